/* static_files.c - the web UI's files, read from disk per request. */
#include "server/static_files.h"

#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
};

static const char *type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static struct MHD_Response *text(const char *msg)
{
    return MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
}

/* Only plain paths: no "..", no hidden files, no backslashes, and none of
 * the npm files that live beside the UI (node_modules, package*.json). */
static int path_safe(const char *url)
{
    const char *base = strrchr(url, '/');
    if (url[0] != '/' || strstr(url, "/.") || strchr(url, '\\') || strstr(url, "//"))
        return 0;
    if (strstr(url, "/node_modules") || (base && strncmp(base, "/package", 8) == 0))
        return 0;
    return strlen(url) < 512;
}

struct MHD_Response *static_files_serve(const char *root, const char *method, const char *url,
                                        int *status)
{
    char path[PATH_MAX];
    struct stat st;
    struct MHD_Response *resp;
    int fd;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *status = 405;
        return text("method not allowed\n");
    }
    *status = 404;
    if (!root || !*root || !path_safe(url))
        return text("not found\n");
    snprintf(path, sizeof path, "%s%s", root, strcmp(url, "/") == 0 ? "/index.html" : url);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return text("not found\n");
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return text("not found\n");
    }
    resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return NULL;
    }
    *status = 200;
    MHD_add_response_header(resp, "Content-Type", type_of(path));
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* The hash allows index.html's inline import map and nothing else. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self' "
                            "'sha256-ZCW0BHR9gS1/ndwOjiBAa+KnMCH6/Lxp5MCdMPElNAg='; "
                            "style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                            "base-uri 'none'; form-action 'self'");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    return resp;
}
