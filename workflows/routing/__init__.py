"""Task routing: the expression language and the assignment workflows."""
