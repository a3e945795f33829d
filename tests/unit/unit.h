/* Shared includes for the cmocka unit tests. */
#ifndef VMON_UNIT_H
#define VMON_UNIT_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#endif
