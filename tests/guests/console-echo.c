#include "rt.h"
int main(const void *dtb){(void)dtb;return 0;}
