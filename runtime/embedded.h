/* embedded: the Lua modules and adapters compiled into the binary (generated
 * by tools/embed.c from runtime/lua/ and adapters/). */
#ifndef ATSF_EMBEDDED_H
#define ATSF_EMBEDDED_H
#include <stddef.h>

struct embedded_file {
    const char *name; /* module name: "dsl", "adapters.greenhouse" */
    const char *path; /* source path, used as the chunk name */
    const char *data;
    size_t len;
};

extern const struct embedded_file embedded_files[];

#endif
