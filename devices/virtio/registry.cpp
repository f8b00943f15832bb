// The device registry and the option list of --device.
#include "devices/virtio/registry.hpp"

namespace strata::virtio {

DeviceOptions DeviceOptions::parse(std::string_view text) {
    DeviceOptions o;
    if (text.empty())
        return o;
    for (std::size_t start = 0;;) {
        const std::size_t comma = text.find(',', start);
        const std::string_view part = text.substr(start, comma == std::string_view::npos ? comma : comma - start);
        const std::size_t eq = part.find('=');
        Item item;
        item.key = std::string(part.substr(0, eq));
        if (eq != std::string_view::npos)
            item.value = std::string(part.substr(eq + 1));
        if (item.key.empty())
            throw OptionError("an empty option in '" + std::string(text) + "'");
        o.items_.push_back(std::move(item));
        if (comma == std::string_view::npos)
            return o;
        start = comma + 1;
    }
}

DeviceOptions::Item *DeviceOptions::find(std::string_view key) {
    Item *found = nullptr;
    for (auto &item : items_) {
        if (item.key != key)
            continue;
        if (found)
            throw OptionError("'" + item.key + "' is given twice");
        found = &item;
    }
    if (found)
        found->taken = true;
    return found;
}

std::optional<std::string> DeviceOptions::value(std::string_view key) {
    const Item *item = find(key);
    if (!item)
        return std::nullopt;
    if (!item->value)
        throw OptionError("'" + item->key + "' wants a value: " + item->key + "=...");
    return item->value;
}

bool DeviceOptions::flag(std::string_view key) {
    const Item *item = find(key);
    if (item && item->value)
        throw OptionError("'" + item->key + "' takes no value");
    return item != nullptr;
}

void DeviceOptions::finish() const {
    for (const auto &item : items_)
        if (!item.taken)
            throw OptionError("'" + item.key + "' is not an option of this device");
}

void Registry::add(DeviceType type) {
    if (type.name.empty() || !type.parse)
        throw std::logic_error("a device type needs a name and an option parser");
    const std::string name = type.name;
    if (!types_.emplace(name, std::move(type)).second)
        throw std::logic_error("device type '" + name + "' is registered twice");
}

const DeviceType *Registry::find(std::string_view name) const {
    auto it = types_.find(name);
    return it == types_.end() ? nullptr : &it->second;
}

std::unique_ptr<DeviceConfig> Registry::parse(std::string_view text) const {
    const std::size_t comma = text.find(',');
    const std::string_view name = text.substr(0, comma);
    const DeviceType *type = find(name);
    if (!type) {
        std::string known;
        for (const auto &[n, t] : types_)
            known += (known.empty() ? "" : ", ") + n;
        throw OptionError("there is no device '" + std::string(name) + "' (known: " + known + ")");
    }
    auto options = DeviceOptions::parse(comma == std::string_view::npos ? "" : text.substr(comma + 1));
    auto config = type->parse(options);
    options.finish();
    return config;
}

} // namespace strata::virtio
