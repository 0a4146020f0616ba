"""A batch's run folder: the inputs and their fetching, the SQLite journal, and the results and output
files written from it (results.jsonl, cells.csv, summary.json), read back by review and apply."""
