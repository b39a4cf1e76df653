/* cd_err.c - names of the error codes. */
#include "core/cd_err.h"

const char *cd_strerror(int err)
{
    /* clang-format off */
    switch (err) {
    case CD_OK: return "ok";
    case CD_ENOMEM: return "out_of_memory";
    case CD_EINVAL: return "invalid";
    case CD_ENOTFOUND: return "not_found";
    case CD_ECONFLICT: return "conflict";
    case CD_EFORBIDDEN: return "forbidden";
    case CD_EBUSY: return "busy";
    case CD_EIO: return "internal";
    case CD_ETOOBIG: return "too_large";
    case CD_EAUTH: return "unauthorized";
    case CD_ERATE: return "rate_limited";
    case CD_ESTATE: return "invalid_state";
    }

    /* clang-format on */ return "unknown";
}
