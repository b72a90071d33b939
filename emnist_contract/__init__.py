"""The model contract both sides share: what the 62 outputs mean, the input, a version folder's layout.

The training tools write models that follow it and the serving core reads them by it, so it holds names and
numbers only (the standard library and numpy), and imports nothing else of the project.
"""
