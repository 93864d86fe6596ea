"""Pure content functions: Markdown rendering, HTML sanitising, text cleaning and summaries."""
