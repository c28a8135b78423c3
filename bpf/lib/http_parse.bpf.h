/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Recognising HTTP/1.x heads from their first bytes, cheaply: a request starts with a
 * method token and a space, a response with "HTTP/1.". Everything else is not ours.
 * Comparisons are on whole little-endian words loaded from the packet, not byte loops.
 */
#ifndef HOMEOSTAT_HTTP_PARSE_BPF_H
#define HOMEOSTAT_HTTP_PARSE_BPF_H

#define HS_W4(a, b, c, d) ((__u32)(a) | ((__u32)(b) << 8) | ((__u32)(c) << 16) | ((__u32)(d) << 24))

/* Returns the method of a request whose first 8 bytes are head[0..7] and sets *mlen to the
 * method's length (the target starts at mlen + 1), or HS_M_UNKNOWN. */
static __always_inline __u8 hs_parse_method(const __u8 head[8], __u32 *mlen)
{
	__u32 w0 = HS_W4(head[0], head[1], head[2], head[3]);
	__u32 w1 = HS_W4(head[4], head[5], head[6], head[7]);

	switch (w0) {
	case HS_W4('G', 'E', 'T', ' '):
		*mlen = 3;
		return HS_M_GET;
	case HS_W4('P', 'U', 'T', ' '):
		*mlen = 3;
		return HS_M_PUT;
	case HS_W4('P', 'O', 'S', 'T'):
		*mlen = 4;
		return head[4] == ' ' ? HS_M_POST : HS_M_UNKNOWN;
	case HS_W4('H', 'E', 'A', 'D'):
		*mlen = 4;
		return head[4] == ' ' ? HS_M_HEAD : HS_M_UNKNOWN;
	case HS_W4('D', 'E', 'L', 'E'):
		*mlen = 6;
		return (w1 & 0x00ffffff) == HS_W4('T', 'E', ' ', 0) ? HS_M_DELETE : HS_M_UNKNOWN;
	case HS_W4('P', 'A', 'T', 'C'):
		*mlen = 5;
		return (w1 & 0x0000ffff) == HS_W4('H', ' ', 0, 0) ? HS_M_PATCH : HS_M_UNKNOWN;
	case HS_W4('O', 'P', 'T', 'I'):
		*mlen = 7;
		return w1 == HS_W4('O', 'N', 'S', ' ') ? HS_M_OPTIONS : HS_M_UNKNOWN;
	case HS_W4('C', 'O', 'N', 'N'):
		*mlen = 7;
		return w1 == HS_W4('E', 'C', 'T', ' ') ? HS_M_CONNECT : HS_M_UNKNOWN;
	case HS_W4('T', 'R', 'A', 'C'):
		*mlen = 5;
		return (w1 & 0x0000ffff) == HS_W4('E', ' ', 0, 0) ? HS_M_TRACE : HS_M_UNKNOWN;
	}
	return HS_M_UNKNOWN;
}

static __always_inline int hs_is_digit(__u8 c)
{
	return c >= '0' && c <= '9';
}

/* "HTTP/1.x NNN": returns the status code, or 0 if head[0..11] is not a status line. */
static __always_inline __u16 hs_parse_status(const __u8 head[12], __u8 *http10)
{
	__u32 w0 = HS_W4(head[0], head[1], head[2], head[3]);
	__u32 w1 = HS_W4(head[4], head[5], head[6], 0);

	if (w0 != HS_W4('H', 'T', 'T', 'P') || w1 != HS_W4('/', '1', '.', 0) || head[8] != ' ')
		return 0;
	if (!hs_is_digit(head[9]) || !hs_is_digit(head[10]) || !hs_is_digit(head[11]))
		return 0;
	*http10 = head[7] == '0';
	return (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
}

#endif
