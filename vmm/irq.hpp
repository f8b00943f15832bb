// How a device raises its interrupt without knowing the interrupt controller
// (DESIGN.md dependency rules): the VM hands each device an IrqLine.
#pragma once

namespace strata {

class IrqLine {
public:
    virtual ~IrqLine() = default;
    virtual void set_level(bool high) = 0;
    void pulse() {
        set_level(true);
        set_level(false);
    }
};

} // namespace strata
