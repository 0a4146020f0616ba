"""The pure table stages of the rule path: normalise the text, cut it into cells, locate the tables,
parse their rows (splitting glued digits by the identities), verify every identity, read the metadata."""
