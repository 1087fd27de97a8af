/* embed: turns Lua sources into a C file so the binary carries its runtime
 * modules and adapters. Usage: embed OUT.c FILE... ; a module's name is its
 * path without directories and ".lua" ("runtime/lua/dsl.lua" -> "dsl"),
 * except adapters, which become "adapters.<name>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void modname(const char *path, char *out, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *pfx = strncmp(path, "adapters/", 9) == 0 ? "adapters." : "";
    snprintf(out, len, "%s%.*s", pfx, (int)(strlen(base) - 4), base);
}

int main(int argc, char **argv)
{
    FILE *out = fopen(argv[1], "w");
    if (!out)
        return 1;
    fprintf(out, "#include <stddef.h>\n#include \"embedded.h\"\n");
    for (int i = 2; i < argc; i++) {
        FILE *in = fopen(argv[i], "rb");
        if (!in)
            return perror(argv[i]), 1;
        fprintf(out, "static const char m%d[] = {", i);
        int c, n = 0;
        while ((c = fgetc(in)) != EOF)
            fprintf(out, "%s%d,", n++ % 20 ? "" : "\n", c);
        fprintf(out, "0};\n");
        fclose(in);
    }
    fprintf(out, "const struct embedded_file embedded_files[] = {\n");
    for (int i = 2; i < argc; i++) {
        char name[256];
        modname(argv[i], name, sizeof name);
        fprintf(out, "  {\"%s\", \"%s\", m%d, sizeof m%d - 1},\n", name, argv[i],
                i, i);
    }
    fprintf(out, "  {NULL, NULL, NULL, 0}};\n");
    return fclose(out) ? 1 : 0;
}
