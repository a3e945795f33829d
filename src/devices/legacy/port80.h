/* Port 0x80 sink (POST codes and I/O delay). */
#ifndef VMON_PORT80_H
#define VMON_PORT80_H

#include "bus/bus.h"

#define PORT80_BASE 0x80

extern const struct bus_device_ops port80_ops;

#endif
