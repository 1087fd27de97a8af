/* test_crypto: the "crypto" C module (runtime/l_crypto.c) and the Lua modules
 * built on it, runtime/lua/jwt.lua and runtime/lua/stdwebhooks.lua. Each test
 * runs a Lua snippet in a fresh host state opened with luamod_open, so the
 * modules are loaded exactly as the runtime loads them (embedded sources). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

#include "luamod.h"

/* Test-only globals: the modules, assertions and token builders. */
static const char prelude[] =
    "crypto = require 'crypto'\n"
    "jwt = require 'jwt'\n"
    "sw = require 'stdwebhooks'\n"
    "function eq(got, want, what)\n"
    "    if got ~= want then\n"
    "        error(string.format('%s: got %q, want %q', what or 'value',\n"
    "            tostring(got), tostring(want)), 2)\n"
    "    end\n"
    "end\n"
    "function rejects_as(what, reason, ok, why)\n"
    "    if ok then\n"
    "        error(what .. ': accepted, want: ' .. reason, 3)\n"
    "    end\n"
    "    if why ~= reason then\n"
    "        error(string.format('%s: reason %q, want %q', what, tostring(why),\n"
    "            reason), 3)\n"
    "    end\n"
    "end\n"
    "function rejects(reason, ok, why)\n"
    "    rejects_as('call', reason, ok, why)\n"
    "end\n"
    "function token(header_json, payload_json, key, sig)\n"
    "    local input = crypto.base64url_encode(header_json) .. '.'\n"
    "        .. crypto.base64url_encode(payload_json)\n"
    "    sig = sig or crypto.base64url_encode(crypto.hmac_sha256(key, input))\n"
    "    return input .. '.' .. sig\n"
    "end\n"
    "KEY = 'coderbyte-api-key'\n"
    "NOW = 1700000000\n"
    "OPTS = { issuer = 'acme', now = NOW, leeway = 60 }\n"
    "HS256 = '{\"alg\":\"HS256\",\"typ\":\"JWT\"}'\n"
    "SW_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'\n"
    "SW_SIG = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='\n"
    "SW_BODY = '{\"test\": 2432232314}'\n"
    "SW_TS = 1614265330\n"
    "function sw_headers(sig, ts)\n"
    "    return { ['webhook-id'] = 'msg_p5jXN8AQM9LWM0D4loKWxJek',\n"
    "             ['webhook-timestamp'] = tostring(ts or SW_TS),\n"
    "             ['webhook-signature'] = sig or SW_SIG }\n"
    "end\n";

static int setup(void **state)
{
    lua_State *L = luaL_newstate();
    if (!L)
        return -1;
    luaL_openlibs(L);
    luamod_open(L);
    if (luaL_dostring(L, prelude) != LUA_OK) { // err
        print_error("prelude: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return -1;
    }
    assert_int_equal(lua_gettop(L), 0);
    *state = L;
    return 0;
}

static int teardown(void **state)
{
    lua_close(*state);
    return 0;
}

static int traceback(lua_State *L)
{
    luaL_traceback(L, L, lua_tostring(L, 1), 1); // err tb
    return 1;
}

/* Runs one snippet; a Lua error fails the test with its traceback. */
static void run(lua_State *L, const char *name, const char *code)
{
    lua_pushcfunction(L, traceback);                                  // h
    if (luaL_loadbufferx(L, code, strlen(code), name, "t") != LUA_OK) // h err
        fail_msg("%s", lua_tostring(L, -1));
    if (lua_pcall(L, 0, 0, 1) != LUA_OK) // h tb
        fail_msg("%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    assert_int_equal(lua_gettop(L), 0);
}

#define LUA_TEST(name, code)                                                             \
    static void name(void **state)                                                       \
    {                                                                                    \
        run(*state, "=" #name, code);                                                    \
    }

/* ---- crypto primitives ---- */

LUA_TEST(hmac_sha256_matches_rfc4231_test_case_1,
         "local mac = crypto.hmac_sha256(string.rep('\\x0b', 20), 'Hi There')\n"
         "eq(#mac, 32, 'length')\n"
         "eq(crypto.hex(mac), 'b0344c61d8db38535ca8afceaf0bf12b'\n"
         "    .. '881dc200c9833da726e9376c2e32cff7')\n")

LUA_TEST(hmac_sha256_matches_rfc4231_test_case_2,
         "local mac = crypto.hmac_sha256('Jefe', 'what do ya want for nothing?')\n"
         "eq(crypto.hex(mac), '5bdcc146bf60754e6a042426089575c7'\n"
         "    .. '5a003f089d2739839dec58b964ec3843')\n")

LUA_TEST(hmac_sha256_accepts_an_empty_key_and_message,
         "eq(crypto.hex(crypto.hmac_sha256('', '')), 'b613679a0814d9ec772f95d778c35fc5'\n"
         "    .. 'ff1697c493715653c6c712144292c5ad')\n")

LUA_TEST(sha256_of_empty_string_and_abc_match_known_digests,
         "eq(crypto.hex(crypto.sha256('')), 'e3b0c44298fc1c149afbf4c8996fb924'\n"
         "    .. '27ae41e4649b934ca495991b7852b855')\n"
         "eq(crypto.hex(crypto.sha256('abc')), 'ba7816bf8f01cfea414140de5dae2223'\n"
         "    .. 'b00361a396177a9cb410ff61f20015ad')\n")

LUA_TEST(sha256_and_hmac_hash_bytes_after_an_embedded_nul,
         "assert(crypto.sha256('a\\0b') ~= crypto.sha256('a\\0c'))\n"
         "assert(crypto.hmac_sha256('k\\0x', 'm') ~= crypto.hmac_sha256('k\\0y', 'm'))\n")

LUA_TEST(hex_and_unhex_round_trip_every_byte_value,
         "local t = {}\n"
         "for i = 0, 255 do t[#t + 1] = string.char(i) end\n"
         "local raw = table.concat(t)\n"
         "local h = crypto.hex(raw)\n"
         "eq(#h, 512, 'hex length')\n"
         "eq(h:sub(1, 8), '00010203')\n"
         "eq(h:sub(-4), 'feff')\n"
         "eq(crypto.unhex(h), raw, 'round trip')\n"
         "eq(crypto.hex(''), '')\n"
         "eq(crypto.unhex(''), '')\n")

LUA_TEST(unhex_accepts_uppercase_and_rejects_odd_length_or_bad_digits,
         "eq(crypto.unhex('DEADbeef'), '\\xde\\xad\\xbe\\xef')\n"
         "rejects('odd-length hex', crypto.unhex('abc'))\n"
         "rejects('invalid hex', crypto.unhex('zz'))\n"
         "rejects('invalid hex', crypto.unhex('0g'))\n"
         "rejects('invalid hex', crypto.unhex('00\\0\\0'))\n")

LUA_TEST(equal_is_true_only_for_identical_strings,
         "eq(crypto.equal('secret', 'secret'), true, 'same')\n"
         "eq(crypto.equal('', ''), true, 'both empty')\n"
         "eq(crypto.equal('secret', 'secreT'), false, 'last byte')\n"
         "eq(crypto.equal('a\\0b', 'a\\0c'), false, 'after a NUL')\n"
         "eq(crypto.equal('a\\0b', 'a\\0b'), true, 'with a NUL')\n")

LUA_TEST(equal_is_false_for_different_lengths_even_with_a_common_prefix,
         "eq(crypto.equal('secret', 'secret2'), false, 'longer')\n"
         "eq(crypto.equal('secret2', 'secret'), false, 'shorter')\n"
         "eq(crypto.equal('', 'x'), false, 'empty')\n"
         "eq(crypto.equal('abc', 'abc\\0'), false, 'trailing NUL')\n")

LUA_TEST(random_returns_n_bytes_and_refuses_sizes_outside_1_to_4096,
         "eq(#crypto.random(1), 1)\n"
         "eq(#crypto.random(4096), 4096)\n"
         "assert(crypto.random(32) ~= crypto.random(32), 'two draws differ')\n"
         "assert(not pcall(crypto.random, 0), '0 raises')\n"
         "assert(not pcall(crypto.random, 4097), '4097 raises')\n"
         "assert(not pcall(crypto.random, 1.5), 'non-integer raises')\n")

LUA_TEST(wrong_argument_types_raise_instead_of_returning_nil,
         "for _, f in ipairs({ 'sha256', 'hex', 'unhex', 'base64_encode',\n"
         "                     'base64_decode', 'base64url_encode',\n"
         "                     'base64url_decode' }) do\n"
         "    assert(not pcall(crypto[f], {}), f .. ' raises on a table')\n"
         "    assert(not pcall(crypto[f]), f .. ' raises on no argument')\n"
         "end\n"
         "assert(not pcall(crypto.hmac_sha256, 'k'), 'hmac without msg')\n"
         "assert(not pcall(crypto.equal, 'a', nil), 'equal with nil')\n"
         "local ok, err = pcall(crypto.sha256, true)\n"
         "assert(tostring(err):find('string expected'), err)\n")

LUA_TEST(base64_encodes_and_decodes_the_rfc4648_vectors,
         "local v = { [''] = '', f = 'Zg==', fo = 'Zm8=', foo = 'Zm9v',\n"
         "            foob = 'Zm9vYg==', fooba = 'Zm9vYmE=', foobar = 'Zm9vYmFy' }\n"
         "for plain, enc in pairs(v) do\n"
         "    eq(crypto.base64_encode(plain), enc, 'encode ' .. plain)\n"
         "    eq(crypto.base64_decode(enc), plain, 'decode ' .. enc)\n"
         "end\n"
         "eq(crypto.base64_encode('\\xfb\\xff\\xbf'), '+/+/')\n")

LUA_TEST(base64url_uses_the_url_alphabet_without_padding,
         "eq(crypto.base64url_encode('\\xfb\\xff\\xbf'), '-_-_')\n"
         "eq(crypto.base64url_encode('\\xfb\\xff'), '-_8')\n"
         "eq(crypto.base64url_encode('f'), 'Zg')\n"
         "eq(crypto.base64url_encode('fo'), 'Zm8')\n"
         "eq(crypto.base64url_encode('foobar'), 'Zm9vYmFy')\n"
         "eq(crypto.base64url_encode(''), '')\n")

LUA_TEST(base64url_decode_takes_padding_as_optional,
         "eq(crypto.base64url_decode('Zg'), 'f')\n"
         "eq(crypto.base64url_decode('Zg=='), 'f')\n"
         "eq(crypto.base64url_decode('Zm8'), 'fo')\n"
         "eq(crypto.base64url_decode('Zm8='), 'fo')\n"
         "eq(crypto.base64url_decode('-_8'), '\\xfb\\xff')\n"
         "eq(crypto.base64url_decode(''), '')\n")

LUA_TEST(
    base64_and_base64url_round_trip_binary_with_nuls,
    "for n = 0, 70 do\n"
    "    local t = {}\n"
    "    for i = 1, n do t[i] = string.char((i * 37) % 256) end\n"
    "    local raw = '\\0' .. table.concat(t) .. '\\0'\n"
    "    eq(crypto.base64_decode(crypto.base64_encode(raw)), raw, 'std ' .. n)\n"
    "    eq(crypto.base64url_decode(crypto.base64url_encode(raw)), raw, 'url ' .. n)\n"
    "end\n"
    "local big = crypto.random(4096)\n"
    "eq(crypto.base64_decode(crypto.base64_encode(big)), big, 'random 4096')\n")

LUA_TEST(base64_decode_rejects_bad_characters_and_bad_padding,
         "for _, bad in ipairs({ 'Zm9v!A==', 'Zm9', 'Zg', 'Zm9vYg=', 'Zm=9', 'Zg===',\n"
         "                       '====', 'Zg==Zg==', 'Zm9v\\n', ' Zm9v', '-_8=',\n"
         "                       'Zm9v\\0AAA', 'Zh==', 'Zm9=' }) do\n"
         "    rejects_as(bad, 'invalid base64', crypto.base64_decode(bad))\n"
         "end\n")

LUA_TEST(base64url_decode_rejects_bad_characters_and_bad_padding,
         "for _, bad in ipairs({ '+/8', 'Z', 'Zg=', 'Zm9vY', 'Zm9v=', 'Zh', 'Zg==Zg',\n"
         "                       'Zm 9v', 'Zm9v\\0' }) do\n"
         "    rejects_as(bad, 'invalid base64url', crypto.base64url_decode(bad))\n"
         "end\n")

/* ---- Standard Webhooks ---- */

LUA_TEST(
    stdwebhooks_sign_matches_the_published_vector,
    "eq(sw.sign(SW_SECRET, 'msg_p5jXN8AQM9LWM0D4loKWxJek', SW_TS, SW_BODY), SW_SIG)\n"
    "eq(sw.sign(SW_SECRET, 'msg_p5jXN8AQM9LWM0D4loKWxJek', '1614265330', SW_BODY),\n"
    "   SW_SIG, 'timestamp as text')\n")

LUA_TEST(stdwebhooks_verify_accepts_the_published_vector,
         "eq(sw.verify(SW_SECRET, sw_headers(), SW_BODY, SW_TS), true)\n"
         "eq(sw.verify(SW_SECRET, sw_headers(), SW_BODY, SW_TS + 300, 300), true,\n"
         "   '300 s late is within tolerance')\n")

LUA_TEST(stdwebhooks_verify_rejects_a_tampered_body,
         "rejects('no matching signature',\n"
         "        sw.verify(SW_SECRET, sw_headers(), '{\"test\": 2432232315}', SW_TS))\n")

LUA_TEST(stdwebhooks_verify_rejects_a_wrong_secret,
         "rejects('no matching signature',\n"
         "        sw.verify(sw.new_secret(), sw_headers(), SW_BODY, SW_TS))\n"
         "rejects('invalid webhook secret',\n"
         "        sw.verify('whsec_not base64!', sw_headers(), SW_BODY, SW_TS))\n")

LUA_TEST(stdwebhooks_verify_rejects_a_missing_header,
         "for _, name in ipairs({ 'webhook-id', 'webhook-timestamp',\n"
         "                        'webhook-signature' }) do\n"
         "    local h = sw_headers()\n"
         "    h[name] = nil\n"
         "    rejects_as(name, 'missing ' .. name .. ' header',\n"
         "               sw.verify(SW_SECRET, h, SW_BODY, SW_TS))\n"
         "end\n"
         "local h = sw_headers()\n"
         "h['webhook-timestamp'] = '16142e5'\n"
         "rejects('invalid webhook-timestamp header', sw.verify(SW_SECRET, h, SW_BODY, "
         "SW_TS))\n")

LUA_TEST(stdwebhooks_verify_rejects_a_timestamp_301_seconds_off_either_way,
         "rejects_as('old', 'timestamp outside tolerance',\n"
         "           sw.verify(SW_SECRET, sw_headers(), SW_BODY, SW_TS + 301))\n"
         "rejects_as('future', 'timestamp outside tolerance',\n"
         "           sw.verify(SW_SECRET, sw_headers(), SW_BODY, SW_TS - 301))\n"
         "eq(sw.verify(SW_SECRET, sw_headers(), SW_BODY, SW_TS + 301, 600), true,\n"
         "   'a wider tolerance accepts it')\n")

LUA_TEST(stdwebhooks_verify_accepts_the_right_signature_listed_second,
         "local wrong = 'v1,' .. crypto.base64_encode(crypto.random(32))\n"
         "eq(sw.verify(SW_SECRET, sw_headers(wrong .. ' ' .. SW_SIG), SW_BODY, SW_TS),\n"
         "   true)\n"
         "rejects_as('only v1 entries count', 'no matching signature',\n"
         "           sw.verify(SW_SECRET, sw_headers(wrong .. ' v2,' .. SW_SIG:sub(4)),\n"
         "                     SW_BODY, SW_TS))\n")

LUA_TEST(
    stdwebhooks_new_secret_is_whsec_and_24_random_bytes,
    "local s = sw.new_secret()\n"
    "assert(s:match('^whsec_[A-Za-z0-9+/]+$'), s)\n"
    "eq(#sw.secret_bytes(s), 24)\n"
    "assert(s ~= sw.new_secret(), 'secrets differ')\n"
    "local sig = sw.sign(s, 'msg_1', NOW, 'body\\0with nul')\n"
    "eq(sw.verify(s, { ['webhook-id'] = 'msg_1', ['webhook-timestamp'] = tostring(NOW),\n"
    "                  ['webhook-signature'] = sig }, 'body\\0with nul', NOW), true)\n")

LUA_TEST(stdwebhooks_secret_bytes_strips_whsec_and_rejects_non_base64,
         "eq(sw.secret_bytes('whsec_Zm9vYmFy'), 'foobar')\n"
         "eq(sw.secret_bytes('Zm9vYmFy'), 'foobar', 'prefix is optional')\n"
         "rejects('invalid webhook secret', sw.secret_bytes('whsec_***'))\n"
         "rejects('invalid webhook secret', sw.secret_bytes('whsec_'))\n")

/* ---- JWT (HS256) ---- */

LUA_TEST(jwt_valid_token_verifies_and_returns_claims,
         "local t = jwt.sign_hs256({ iss = 'acme', jti = 'j1', exp = NOW + 600,\n"
         "                           nbf = NOW - 10 }, KEY)\n"
         "local claims, why = jwt.verify_hs256(t, KEY, OPTS)\n"
         "assert(claims, why)\n"
         "eq(claims.iss, 'acme')\n"
         "eq(claims.jti, 'j1')\n"
         "eq(claims.exp, NOW + 600)\n"
         "assert(jwt.verify_hs256(token(HS256, '{\"iss\":\"acme\"}', KEY), KEY, OPTS),\n"
         "       'no exp or nbf is fine')\n")

LUA_TEST(jwt_rejects_a_token_signed_with_a_different_key,
         "local t = jwt.sign_hs256({ iss = 'acme' }, 'another-key')\n"
         "rejects('bad signature', jwt.verify_hs256(t, KEY, OPTS))\n")

LUA_TEST(
    jwt_rejects_claims_changed_after_signing,
    "local t = jwt.sign_hs256({ iss = 'other', exp = NOW + 600 }, KEY)\n"
    "local h, s = t:match('^([^.]+)%.[^.]+%.([^.]+)$')\n"
    "local forged = h .. '.' .. crypto.base64url_encode('{\"iss\":\"acme\",\"exp\":'\n"
    "    .. (NOW + 600) .. '}') .. '.' .. s\n"
    "rejects('bad signature', jwt.verify_hs256(forged, KEY, OPTS))\n")

LUA_TEST(
    jwt_checks_the_signature_before_any_claim,
    "local t = jwt.sign_hs256({ iss = 'evil', exp = 1 }, 'another-key')\n"
    "rejects('bad signature', jwt.verify_hs256(t, KEY, OPTS))\n"
    "local p = token(HS256, '[1]', 'another-key')\n"
    "rejects_as('payload unparsed', 'bad signature', jwt.verify_hs256(p, KEY, OPTS))\n")

LUA_TEST(jwt_rejects_a_wrong_or_missing_issuer,
         "rejects('wrong issuer',\n"
         "        jwt.verify_hs256(jwt.sign_hs256({ iss = 'other' }, KEY), KEY, OPTS))\n"
         "rejects('wrong issuer', jwt.verify_hs256(jwt.sign_hs256({}, KEY), KEY, OPTS))\n"
         "assert(jwt.verify_hs256(jwt.sign_hs256({}, KEY), KEY, { now = NOW }),\n"
         "       'no issuer configured, none checked')\n")

LUA_TEST(jwt_rejects_a_token_expired_beyond_the_leeway,
         "local t = jwt.sign_hs256({ iss = 'acme', exp = NOW - 61 }, KEY)\n"
         "rejects('token expired', jwt.verify_hs256(t, KEY, OPTS))\n"
         "t = jwt.sign_hs256({ iss = 'acme', exp = NOW - 1 }, KEY)\n"
         "rejects_as('no leeway', 'token expired', jwt.verify_hs256(t, KEY,\n"
         "           { issuer = 'acme', now = NOW, leeway = 0 }))\n")

LUA_TEST(jwt_accepts_a_token_30_seconds_expired_within_the_leeway,
         "local t = jwt.sign_hs256({ iss = 'acme', exp = NOW - 30 }, KEY)\n"
         "assert(jwt.verify_hs256(t, KEY, OPTS))\n"
         "t = jwt.sign_hs256({ iss = 'acme', exp = NOW - 60 }, KEY)\n"
         "assert(jwt.verify_hs256(t, KEY, OPTS), 'exactly at the leeway edge')\n")

LUA_TEST(jwt_rejects_nbf_in_the_future_beyond_the_leeway,
         "local t = jwt.sign_hs256({ iss = 'acme', nbf = NOW + 61 }, KEY)\n"
         "rejects('token not yet valid', jwt.verify_hs256(t, KEY, OPTS))\n"
         "t = jwt.sign_hs256({ iss = 'acme', nbf = NOW + 30 }, KEY)\n"
         "assert(jwt.verify_hs256(t, KEY, OPTS), 'within leeway')\n")

LUA_TEST(jwt_rejects_exp_or_nbf_that_are_not_numbers,
         "rejects('exp must be a number', jwt.verify_hs256(\n"
         "        jwt.sign_hs256({ iss = 'acme', exp = tostring(NOW + 600) }, KEY), KEY, "
         "OPTS))\n"
         "rejects('nbf must be a number', jwt.verify_hs256(\n"
         "        jwt.sign_hs256({ iss = 'acme', nbf = true }, KEY), KEY, OPTS))\n")

LUA_TEST(jwt_rejects_alg_none_with_an_empty_signature,
         "local t = token('{\"alg\":\"none\",\"typ\":\"JWT\"}', '{\"iss\":\"acme\"}', "
         "KEY, '')\n"
         "assert(t:sub(-1) == '.', 'empty signature part')\n"
         "rejects('alg must be HS256', jwt.verify_hs256(t, KEY, OPTS))\n"
         "t = token('{\"alg\":\"None\"}', '{\"iss\":\"acme\"}', KEY, '')\n"
         "rejects_as('None', 'alg must be HS256', jwt.verify_hs256(t, KEY, OPTS))\n")

LUA_TEST(jwt_rejects_alg_rs256_and_hs512_even_when_hmac_signed,
         "for _, alg in ipairs({ 'RS256', 'HS512', 'hs256', 'HS256 ' }) do\n"
         "    local t = jwt.sign_hs256({ iss = 'acme' }, KEY, { alg = alg })\n"
         "    rejects_as(alg, 'alg must be HS256', jwt.verify_hs256(t, KEY, OPTS))\n"
         "end\n")

LUA_TEST(
    jwt_rejects_a_missing_or_non_string_alg,
    "for _, h in ipairs({ '{\"typ\":\"JWT\"}', '{\"alg\":256}', '{\"alg\":null}',\n"
    "                     '{\"alg\":[\"HS256\"]}' }) do\n"
    "    rejects_as(h, 'alg must be HS256',\n"
    "               jwt.verify_hs256(token(h, '{\"iss\":\"acme\"}', KEY), KEY, OPTS))\n"
    "end\n")

LUA_TEST(jwt_accepts_typ_jwt_in_any_case_and_rejects_other_typ,
         "local p = '{\"iss\":\"acme\"}'\n"
         "assert(jwt.verify_hs256(token('{\"alg\":\"HS256\",\"typ\":\"jwt\"}', p, KEY),\n"
         "       KEY, OPTS))\n"
         "rejects('typ must be JWT', jwt.verify_hs256(\n"
         "        token('{\"alg\":\"HS256\",\"typ\":\"JOSE\"}', p, KEY), KEY, OPTS))\n"
         "rejects('typ must be JWT', jwt.verify_hs256(\n"
         "        token('{\"alg\":\"HS256\",\"typ\":1}', p, KEY), KEY, OPTS))\n")

LUA_TEST(jwt_rejects_malformed_tokens,
         "local good = jwt.sign_hs256({ iss = 'acme' }, KEY)\n"
         "local h, p, s = good:match('^([^.]+)%.([^.]+)%.([^.]+)$')\n"
         "local cases = {\n"
         "    two_parts = h .. '.' .. p,\n"
         "    four_parts = good .. '.' .. s,\n"
         "    empty = '',\n"
         "    dots = '..',\n"
         "    bad_base64_header = '!' .. h:sub(2) .. '.' .. p .. '.' .. s,\n"
         "    bad_base64_payload = h .. '.' .. p .. '*.' .. s,\n"
         "    bad_base64_signature = h .. '.' .. p .. '.' .. s .. '+',\n"
         "    header_not_json = token('alg=HS256', '{}', KEY),\n"
         "    header_array = token('[\"HS256\"]', '{}', KEY),\n"
         "    payload_array = token(HS256, '[1,2]', KEY),\n"
         "    payload_string = token(HS256, '\"acme\"', KEY),\n"
         "    payload_not_json = token(HS256, '{iss: acme}', KEY),\n"
         "    payload_too_deep = token(HS256, string.rep('{\"a\":', 40) .. '1'\n"
         "        .. string.rep('}', 40), KEY),\n"
         "}\n"
         "for name, t in pairs(cases) do\n"
         "    rejects_as(name, 'malformed token', jwt.verify_hs256(t, KEY, OPTS))\n"
         "end\n"
         "rejects_as('nil token', 'malformed token', jwt.verify_hs256(nil, KEY, OPTS))\n")

LUA_TEST(jwt_rejection_reasons_never_contain_the_token_or_key,
         "local key = 'k3y-Zm9v-secret'\n"
         "local tokens = {\n"
         "    jwt.sign_hs256({ iss = 'x' }, key),\n"
         "    jwt.sign_hs256({ iss = 'acme' }, 'other'),\n"
         "    jwt.sign_hs256({ iss = 'acme', exp = 1 }, key),\n"
         "    jwt.sign_hs256({ iss = 'acme' }, key, { alg = 'RS256' }),\n"
         "    'a.b',\n"
         "}\n"
         "for _, t in ipairs(tokens) do\n"
         "    local ok, why = jwt.verify_hs256(t, key, OPTS)\n"
         "    assert(not ok and type(why) == 'string' and #why < 40, why)\n"
         "    assert(not why:find(key, 1, true) and not why:find(t, 1, true), why)\n"
         "end\n"
         "rejects('no key configured', jwt.verify_hs256(tokens[1], '', OPTS))\n")

LUA_TEST(jwt_sign_round_trips_claims_and_merges_the_extra_header,
         "local t = jwt.sign_hs256({ iss = 'acme', n = 7, tags = { 'a', 'b' } }, KEY,\n"
         "                         { kid = 'k1' })\n"
         "local h = require('cjson').decode(crypto.base64url_decode(t:match('^[^.]+')))\n"
         "eq(h.alg, 'HS256')\n"
         "eq(h.typ, 'JWT')\n"
         "eq(h.kid, 'k1')\n"
         "assert(not t:find('[=+/]'), 'base64url without padding')\n"
         "local c = assert(jwt.verify_hs256(t, KEY, OPTS))\n"
         "eq(c.n, 7)\n"
         "eq(c.tags[2], 'b')\n")

LUA_TEST(jwt_bearer_extracts_the_token_with_a_case_insensitive_scheme,
         "eq(jwt.bearer({ authorization = 'Bearer abc.def.ghi' }), 'abc.def.ghi')\n"
         "eq(jwt.bearer({ authorization = 'bearer abc' }), 'abc')\n"
         "eq(jwt.bearer({ authorization = 'BEARER  abc ' }), 'abc', 'extra spaces')\n"
         "eq(jwt.bearer('Bearer abc'), 'abc', 'a bare header value')\n"
         "rejects('missing authorization header', jwt.bearer({}))\n"
         "rejects('authorization is not a Bearer token',\n"
         "        jwt.bearer({ authorization = 'Basic dXNlcjpwYXNz' }))\n"
         "rejects('authorization is not a Bearer token',\n"
         "        jwt.bearer({ authorization = 'Bearer' }))\n"
         "rejects('authorization is not a Bearer token',\n"
         "        jwt.bearer({ authorization = 'Bearer a b' }))\n"
         "rejects('malformed authorization header',\n"
         "        jwt.bearer({ authorization = { 'Bearer a', 'Bearer b' } }))\n")

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(hmac_sha256_matches_rfc4231_test_case_1),
        T(hmac_sha256_matches_rfc4231_test_case_2),
        T(hmac_sha256_accepts_an_empty_key_and_message),
        T(sha256_of_empty_string_and_abc_match_known_digests),
        T(sha256_and_hmac_hash_bytes_after_an_embedded_nul),
        T(hex_and_unhex_round_trip_every_byte_value),
        T(unhex_accepts_uppercase_and_rejects_odd_length_or_bad_digits),
        T(equal_is_true_only_for_identical_strings),
        T(equal_is_false_for_different_lengths_even_with_a_common_prefix),
        T(random_returns_n_bytes_and_refuses_sizes_outside_1_to_4096),
        T(wrong_argument_types_raise_instead_of_returning_nil),
        T(base64_encodes_and_decodes_the_rfc4648_vectors),
        T(base64url_uses_the_url_alphabet_without_padding),
        T(base64url_decode_takes_padding_as_optional),
        T(base64_and_base64url_round_trip_binary_with_nuls),
        T(base64_decode_rejects_bad_characters_and_bad_padding),
        T(base64url_decode_rejects_bad_characters_and_bad_padding),
        T(stdwebhooks_sign_matches_the_published_vector),
        T(stdwebhooks_verify_accepts_the_published_vector),
        T(stdwebhooks_verify_rejects_a_tampered_body),
        T(stdwebhooks_verify_rejects_a_wrong_secret),
        T(stdwebhooks_verify_rejects_a_missing_header),
        T(stdwebhooks_verify_rejects_a_timestamp_301_seconds_off_either_way),
        T(stdwebhooks_verify_accepts_the_right_signature_listed_second),
        T(stdwebhooks_new_secret_is_whsec_and_24_random_bytes),
        T(stdwebhooks_secret_bytes_strips_whsec_and_rejects_non_base64),
        T(jwt_valid_token_verifies_and_returns_claims),
        T(jwt_rejects_a_token_signed_with_a_different_key),
        T(jwt_rejects_claims_changed_after_signing),
        T(jwt_checks_the_signature_before_any_claim),
        T(jwt_rejects_a_wrong_or_missing_issuer),
        T(jwt_rejects_a_token_expired_beyond_the_leeway),
        T(jwt_accepts_a_token_30_seconds_expired_within_the_leeway),
        T(jwt_rejects_nbf_in_the_future_beyond_the_leeway),
        T(jwt_rejects_exp_or_nbf_that_are_not_numbers),
        T(jwt_rejects_alg_none_with_an_empty_signature),
        T(jwt_rejects_alg_rs256_and_hs512_even_when_hmac_signed),
        T(jwt_rejects_a_missing_or_non_string_alg),
        T(jwt_accepts_typ_jwt_in_any_case_and_rejects_other_typ),
        T(jwt_rejects_malformed_tokens),
        T(jwt_rejection_reasons_never_contain_the_token_or_key),
        T(jwt_sign_round_trips_claims_and_merges_the_extra_header),
        T(jwt_bearer_extracts_the_token_with_a_case_insensitive_scheme),
    };
#undef T
    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
