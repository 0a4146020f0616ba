"""What a person decides: the conflicts and suspects of a set of results (CSV, Markdown), the HTML
review page with the tables on their printed grid, and the decisions applied back (all pure)."""
