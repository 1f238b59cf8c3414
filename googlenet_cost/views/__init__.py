"""Views of the data: the report's table/JSON/CSV/Markdown, compare's, check's, the plot."""
