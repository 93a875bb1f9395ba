/*
 * sink_output.c: a command sink's output cut into lines for the log,
 * redacted before it is cut.
 *
 * A line longer than the piece size is logged in pieces. Redacting each
 * piece alone would miss a password that straddles a cut, and log it in two
 * halves; so the buffer is redacted first, and of a full buffer only the
 * part that no registered secret can straddle is emitted: the last
 * (longest secret - 1) bytes wait for the output that follows.
 */
#include <string.h>

#include "log.h"
#include "sink.h"

void
sink_output_init(SinkOutput *o, size_t max, SinkOutputEmit emit, void *arg)
{
	sb_init(&o->buf);
	o->max = max > 0 ? max : 1;
	o->emit = emit;
	o->arg = arg;
}

/* Hand the first n bytes of the (redacted) buffer to emit and drop them. */
static void
emit_head(SinkOutput *o, size_t n)
{
	char		saved = o->buf.data[n];

	o->buf.data[n] = '\0';
	o->emit(o->buf.data, o->arg);
	o->buf.data[n] = saved;
	memmove(o->buf.data, o->buf.data + n, o->buf.len - n + 1);
	o->buf.len -= n;
}

/*
 * Where to cut a piece of at most max bytes off the redacted buffer: at
 * max, or before a mask that would straddle the cut, so the log shows
 * "<redacted>" whole.
 */
static size_t
cut_at(const SinkOutput *o)
{
	size_t		mlen = strlen(LOG_REDACTED);
	size_t		from = o->max >= mlen ? o->max - mlen + 1 : 1;

	for (size_t j = from; j < o->max && j + mlen <= o->buf.len; j++)
		if (memcmp(o->buf.data + j, LOG_REDACTED, mlen) == 0)
			return j;
	return o->max;
}

/* The end of a line: redact it, then emit it in pieces of at most max. */
static void
emit_line(SinkOutput *o)
{
	log_redact(o->buf.data);
	o->buf.len = strlen(o->buf.data);
	while (o->buf.len > o->max)
		emit_head(o, cut_at(o));
	emit_head(o, o->buf.len);
}

/*
 * A full buffer: redact it, and emit a piece of max bytes if at least
 * keep bytes remain after it (a secret starting in the piece would then
 * end in the buffer, and has been redacted).
 */
static void
emit_full(SinkOutput *o)
{
	size_t		longest = log_longest_secret();
	size_t		keep = longest > 0 ? longest - 1 : 0;

	if (o->buf.len < o->max + keep)
		return;
	log_redact(o->buf.data);
	o->buf.len = strlen(o->buf.data);
	while (o->buf.len >= o->max + keep)
		emit_head(o, cut_at(o));
}

void
sink_output_feed(SinkOutput *o, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		if (data[i] == '\n')
			emit_line(o);
		else if (data[i] != '\0' && data[i] != '\r')
		{
			sb_appendc(&o->buf, data[i]);
			emit_full(o);
		}
	}
}

void
sink_output_flush(SinkOutput *o)
{
	if (o->buf.len > 0)
		emit_line(o);
}

void
sink_output_free(SinkOutput *o)
{
	sb_free_secret(&o->buf);
}
