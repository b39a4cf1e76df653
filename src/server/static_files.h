/* static_files.h - serves the web UI's files from one folder. */
#ifndef STATIC_FILES_H
#define STATIC_FILES_H

struct MHD_Response;

/* A response for url under root ("/" is index.html), or a 404/405 page.
 * *status receives the status to send. NULL only when out of memory. */
struct MHD_Response *static_files_serve(const char *root, const char *method, const char *url,
                                        int *status);

#endif
