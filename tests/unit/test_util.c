/*
 * test_util.c: the small helpers of lib/core/util.c that several modules share:
 * the growing string, the shortest round-trip double, and the parsing of
 * a name from a list (with the message every *_parse function gives).
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util.h"

TEST(buf_appends)
{
	struct mp_buf b = MP_BUF_INIT;
	CHECK(b.s == NULL && b.len == 0);
	mp_buf_addstr(&b, "");
	CHECK(b.s && !strcmp(b.s, "") && b.len == 0);
	for (int i = 0; i < 1000; i++)
		mp_buf_printf(&b, "%s%d", i ? " " : "", i);
	CHECK(b.len == strlen(b.s));
	CHECK(!strncmp(b.s, "0 1 2 3", 7));
	CHECK(!strcmp(b.s + b.len - 7, "998 999"));
	mp_buf_add(&b, "ab\0c", 4);
	CHECK(b.len == strlen(b.s) + 2 && b.s[b.len] == '\0');
	mp_buf_release(&b);
	CHECK(b.s == NULL && b.len == 0 && b.cap == 0);
}

TEST(fmt_double_round_trips)
{
	char buf[MP_DOUBLE_CHARS];
	CHECK(!strcmp(mp_fmt_double(buf, 0.8), "0.8"));
	CHECK(!strcmp(mp_fmt_double(buf, 100), "100"));
	CHECK(!strcmp(mp_fmt_double(buf, 1e-3), "0.001"));
	CHECK(!strcmp(mp_fmt_double(buf, 0.1 + 0.2), "0.30000000000000004"));
	CHECK(!strcmp(mp_fmt_double(buf, 1e300), "1e+300"));
	const double v[] = { 1.0 / 3, -DBL_MAX, DBL_MIN, 5e-324, 123456.789, 0.5e-7 };
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		CHECK(strtod(mp_fmt_double(buf, v[i]), NULL) == v[i]);
}

TEST(parse_choice)
{
	static const char *const names[] = { "auto", "primal", "dual" };
	CHECK(mp_parse_choice("primal", names, 3, "unknown method") == 1);
	CHECK(mp_parse_choice("dual", names, 3, "unknown method") == 2);
	CHECK(mp_parse_choice("Dual", names, 3, "unknown method") == -1);
	CHECK(!strcmp(mp_errmsg(), "unknown method 'Dual' (auto, primal or dual)"));
	CHECK(mp_parse_choice("x", names, 2, "invalid split") == -1);
	CHECK(!strcmp(mp_errmsg(), "invalid split 'x' (auto or primal)"));
	CHECK(mp_parse_choice("", names, 1, "bad") == -1);
	CHECK(!strcmp(mp_errmsg(), "bad '' (auto)"));
}

int main(void)
{
	RUN(buf_appends);
	RUN(fmt_double_round_trips);
	RUN(parse_choice);
	return tap_done();
}
