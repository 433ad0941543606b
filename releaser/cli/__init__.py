"""Click commands only: parse, call the core, render, map errors."""
