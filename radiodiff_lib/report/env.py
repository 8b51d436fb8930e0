"""Names shared by the report runner and the code running inside notebook kernels (kept import-light:
the kernels must not pay for nbformat/nbconvert)."""

# Set in the kernel's environment by report.render_notebook: draw plain figures, no widgets.
HEADLESS_ENV = "RADIODIFF_HEADLESS"

# Outputs of this type carry numbers for tests (report_sections.record); the exports drop them.
RECORD_MIME = "application/vnd.radiodiff.record+json"
