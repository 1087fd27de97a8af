/* l_crypto: the Lua module "crypto" — small raw primitives (HMAC-SHA256,
 * SHA-256, constant-time compare, random bytes, hex and base64 codecs) over
 * OpenSSL libcrypto. The friendly APIs built on them (JWT, Standard Webhooks)
 * are Lua: runtime/lua/jwt.lua and runtime/lua/stdwebhooks.lua. Strings are
 * binary-safe; wrong argument types raise, bad input data returns nil, msg. */
#include <lauxlib.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>

#include "luamod.h"

#define RANDOM_MAX 4096

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Operational failure: the script gets nil, msg. */
static int fail(lua_State *L, const char *msg)
{
    lua_pushnil(L);         // ... nil
    lua_pushstring(L, msg); // ... nil msg
    return 2;
}

static int l_crypto_hmac_sha256(lua_State *L)
{
    size_t klen, mlen;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *msg = luaL_checklstring(L, 2, &mlen);
    luaL_argcheck(L, klen <= INT_MAX, 1, "key too long");
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &olen))
        return luaL_error(L, "crypto.hmac_sha256: libcrypto failure");
    lua_pushlstring(L, (const char *)out, olen); // key msg mac
    return 1;
}

static int l_crypto_sha256(lua_State *L)
{
    size_t mlen;
    const char *msg = luaL_checklstring(L, 1, &mlen);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int olen = 0;
    if (!EVP_Digest(msg, mlen, out, &olen, EVP_sha256(), NULL))
        return luaL_error(L, "crypto.sha256: libcrypto failure");
    lua_pushlstring(L, (const char *)out, olen); // msg digest
    return 1;
}

static int l_crypto_hex(lua_State *L)
{
    static const char digits[] = "0123456789abcdef";
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    luaL_argcheck(L, n <= SIZE_MAX / 2, 1, "string too long");
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 2 * n); // raw [box]
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[s[i] >> 4];
        out[2 * i + 1] = digits[s[i] & 15];
    }
    luaL_pushresultsize(&b, 2 * n); // raw hex
    return 1;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int l_crypto_unhex(lua_State *L)
{
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    if (n % 2)
        return fail(L, "odd-length hex");
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n / 2); // hex [box]
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return fail(L, "invalid hex"); // hex [box] nil msg
        out[i / 2] = (char)(hi << 4 | lo);
    }
    luaL_pushresultsize(&b, n / 2); // hex raw
    return 1;
}

/* Time depends on the shorter length only, never on where the content
 * differs; a length mismatch is folded in without an early exit. */
static int l_crypto_equal(lua_State *L)
{
    size_t alen, blen;
    const char *a = luaL_checklstring(L, 1, &alen);
    const char *b = luaL_checklstring(L, 2, &blen);
    size_t n = alen < blen ? alen : blen;
    int diff = CRYPTO_memcmp(a, b, n);
    diff |= alen != blen;
    lua_pushboolean(L, diff == 0); // a b eq
    return 1;
}

static int l_crypto_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= RANDOM_MAX, 1, "must be 1..4096");
    unsigned char out[RANDOM_MAX];
    if (RAND_bytes(out, (int)n) != 1)
        return fail(L, "random source failed");       // n nil msg
    lua_pushlstring(L, (const char *)out, (size_t)n); // n bytes
    OPENSSL_cleanse(out, (size_t)n);
    return 1;
}

/* Encodes n bytes with alphabet abc into out; returns the output length.
 * Padding with '=' to a multiple of 4 when pad is set. */
static size_t b64_encode(char *out, const unsigned char *s, size_t n, const char *abc,
                         int pad)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = abc[v >> 6 & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    return o;
}

static int push_b64(lua_State *L, const char *abc, int pad)
{
    size_t n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
    luaL_argcheck(L, n <= SIZE_MAX / 4 * 3 - 3, 1, "string too long");
    size_t cap = (n + 2) / 3 * 4;
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, cap);                // s [box]
    luaL_pushresultsize(&b, b64_encode(out, s, n, abc, pad)); // s b64
    return 1;
}

static int b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Checks the framing: how many '=' end s, and whether the length fits the
 * variant. Sets *data to the number of data characters; 0 or -1. */
static int b64_framing(const char *s, size_t n, int url, size_t *data)
{
    size_t pad = 0;
    while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
        pad++;
    if ((pad || !url) && n % 4)
        return -1; /* padded input comes in whole quads */
    if ((n - pad) % 4 == 1)
        return -1; /* a lone sextet cannot encode a byte */
    *data = n - pad;
    return 0;
}

/* Decodes the n data characters of s into out and sets *olen; -1 on a bad
 * character or non-zero unused bits in the last character (non-canonical). */
static int b64_decode(char *out, const char *s, size_t n, int url, size_t *olen)
{
    size_t o = 0, bits = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i], url);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    if (acc & ((1u << bits) - 1))
        return -1;
    *olen = o;
    return 0;
}

static int push_unb64(lua_State *L, int url)
{
    size_t n, data, len;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *msg = url ? "invalid base64url" : "invalid base64";
    if (b64_framing(s, n, url, &data) < 0)
        return fail(L, msg); // s nil msg
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, data / 4 * 3 + 2); // s [box]
    if (b64_decode(out, s, data, url, &len) < 0)
        return fail(L, msg);      // s [box] nil msg
    luaL_pushresultsize(&b, len); // s raw
    return 1;
}

static int l_crypto_base64_encode(lua_State *L)
{
    return push_b64(L, b64_std, 1);
}

static int l_crypto_base64_decode(lua_State *L)
{
    return push_unb64(L, 0);
}

static int l_crypto_base64url_encode(lua_State *L)
{
    return push_b64(L, b64_url, 0);
}

static int l_crypto_base64url_decode(lua_State *L)
{
    return push_unb64(L, 1);
}

static const luaL_Reg crypto_funcs[] = {
    /* hmac_sha256(key, msg) -> 32 raw bytes */
    {"hmac_sha256", l_crypto_hmac_sha256},
    /* sha256(msg) -> 32 raw bytes */
    {"sha256", l_crypto_sha256},
    /* hex(raw) -> lowercase hex string */
    {"hex", l_crypto_hex},
    /* unhex(hex) -> raw | nil, "odd-length hex" | nil, "invalid hex" */
    {"unhex", l_crypto_unhex},
    /* equal(a, b) -> boolean; constant time in the content */
    {"equal", l_crypto_equal},
    /* random(n) -> n raw bytes from the CSPRNG, 1 <= n <= 4096 | nil, msg */
    {"random", l_crypto_random},
    /* base64_encode(s) -> padded standard base64 */
    {"base64_encode", l_crypto_base64_encode},
    /* base64_decode(s) -> raw | nil, "invalid base64" (strict, padding required) */
    {"base64_decode", l_crypto_base64_decode},
    /* base64url_encode(s) -> URL-safe base64 without padding */
    {"base64url_encode", l_crypto_base64url_encode},
    /* base64url_decode(s) -> raw | nil, "invalid base64url" (padding optional) */
    {"base64url_decode", l_crypto_base64url_decode},
    {NULL, NULL},
};

int luaopen_atsflow_crypto(lua_State *L)
{
    luaL_newlib(L, crypto_funcs); // crypto
    return 1;
}
