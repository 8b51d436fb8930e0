"""Reports: notebooks run with papermill and rendered to offline HTML and Markdown with nbconvert.

Kept light on purpose (no torch, no matplotlib): ``radiodiff report`` only needs the runner here;
the notebooks import ``sections``, ``text`` and ``widgets`` themselves, and ``demo`` holds the
``make report`` story.
"""
from .params import BUILTIN_NOTEBOOKS, find_notebook, join_values, notebook_parameters, validate_params
from .runner import ReportPaths, execute_notebook, render_notebook

__all__ = ["BUILTIN_NOTEBOOKS", "ReportPaths", "execute_notebook", "find_notebook", "join_values", "notebook_parameters",
           "render_notebook", "validate_params"]
