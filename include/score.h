/*
 * score.h: accuracy of a prediction stream (meta.txt, y, [y_true,
 * flipped], pred, [score]) against its labels, the engine of `score`.
 *
 * The truth is y_true when the stream has it, else y. Counts, per stream:
 *   n              samples (length of pred)
 *   acc            pred == truth
 *   acc_y          pred == y                  (NA without y)
 *   acc_y_true     pred == y_true             (NA without y_true)
 *   n_flipped      samples with flipped != 0  (NA without flipped)
 *   acc_flipped    pred == truth where flipped (NA without flipped, or none)
 *   acc_kept       pred == truth where not flipped (same)
 * An accuracy over an empty set is NA.
 */
#ifndef MEMPROBE_SCORE_H
#define MEMPROBE_SCORE_H

#include <stddef.h>

struct score_result {
	size_t n;
	int have_y, have_y_true, have_flipped;
	size_t correct;          /* against the truth */
	size_t correct_y;
	size_t correct_y_true;
	size_t n_flipped;
	size_t correct_flipped;  /* against the truth, flipped samples */
	size_t correct_kept;     /* against the truth, kept samples */
};

/* The statistics columns, in output order, tab-separated, no newline:
 * "n\tacc\tacc_y\tacc_y_true\tacc_flipped\tacc_kept\tn_flipped". */
extern const char score_columns[];
/* 1 if name is one of score_columns (or "file"). */
int score_is_column(const char *name);

/* Read a prediction stream (NULL or "-": stdin) and count. -1 with a
 * message naming the file when pred is missing, a label member's length
 * differs from pred's, a prediction or a label (y, y_true) is negative or
 * not below the number of classes (the width of `score`, else meta
 * data.classes or model.classes; all that are present must agree),
 * flipped holds anything but 0 and 1, or there are no labels at all. */
int score_stream(const char *path, struct score_result *res);

/* The statistics of one row as TSV fields matching score_columns:
 * accuracies with 6 decimals, NA where undefined. malloc'd. */
char *score_format(const struct score_result *res);

#endif
