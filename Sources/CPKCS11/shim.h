#ifndef FLEETKEY_CPKCS11_SHIM_H
#define FLEETKEY_CPKCS11_SHIM_H
/* The PKCS#11 v2.40 C API as p11-kit ships it. Fleetkey loads modules itself with dlopen. */
#include <p11-kit/pkcs11.h>
#include <dlfcn.h>
#endif
