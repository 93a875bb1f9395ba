/*
 * message.h: a message for people in PostgreSQL's three parts, primary
 * message, DETAIL and HINT.
 *
 * An error passed up through "char **err" carries its detail and hint
 * inline, marked: "M (detail: D) (hint: H)" (db.c marks a server error's
 * DETAIL and HINT so). message_split takes the marks out; log_emit and
 * status show each part on its own line (its own JSON field).
 */
#ifndef PGR_MESSAGE_H
#define PGR_MESSAGE_H

typedef struct Message
{
	char	   *primary;		/* the message without its marks */
	char	   *detail;			/* the DETAIL lines, or NULL */
	char	   *hint;			/* the HINT lines, or NULL */
} Message;

/*
 * Split msg, and the detail and hint a caller gives besides (NULL for
 * none): the detail is msg's, then detail's; the hint is msg's, detail's,
 * then hint. An unbalanced mark stays where it is.
 */
void		message_split(const char *msg, const char *detail, const char *hint,
						  Message *out);
void		message_free(Message *m);

#endif
