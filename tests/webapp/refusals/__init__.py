"""The same bad inputs through every entry point, and the one refusal each must give."""
