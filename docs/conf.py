"""Sphinx configuration for the mpguide site."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import mpguide
from mpguide.sphinxext.gallery_processes import start_method_from_environment

project = "mpguide"
author = "mpguide developers"
copyright = "2026, mpguide developers"
release = version = mpguide.__version__

here = Path(__file__).parent
sys.path.insert(0, str(here / "_ext"))  # the site's own extensions

# -- Start method -------------------------------------------------------------
# MPGUIDE_START_METHOD chooses how the examples start processes (default
# spawn); mpguide.sphinxext.gallery_processes validates it and passes it on.
start_method = start_method_from_environment()
mpguide_start_method = start_method

# -- General --------------------------------------------------------------------
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx_design",
    "notfound.extension",
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
    "mpguide.sphinxext.gallery_processes",
    "mpguide.sphinxext.start_method_matrix",
    "mpguide.sphinxext.error_index",
    "mpguide.sphinxext.notebooks",
    "generated_files",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**/_generated"]
nitpicky = True
myst_enable_extensions = ["colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3
myst_substitutions = {
    "start_method": start_method,
    "python_version": platform.python_version(),
}
rst_epilog = f"\n.. |start_method| replace:: ``{start_method}``\n"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Types that appear in signatures but that no documentation describes:
# multiprocessing's context, process and synchronize classes are documented only
# through the functions and classes that return or subclass them, and Sphinx's
# own classes in the extension's signatures are not worth an inventory download.
nitpick_ignore_regex = [
    ("py:class", r"(multiprocessing\.context\.)?BaseContext"),
    ("py:class", r"(multiprocessing\.synchronize\.)?Lock"),
    ("py:class", r"(multiprocessing\.process\.)?BaseProcess"),
    ("py:class", r"sphinx\..*|Sphinx"),
    ("py:class", r"(matplotlib\.figure\.)?Figure"),
]

# -- Cross-references to the Python documentation -------------------------------
# Links point to docs.python.org. The inventory that resolves them is read from
# a copy in this repository first (from Debian's python3.11-doc package), so the
# build needs no network; the URL is tried only if that copy is missing.
intersphinx_mapping = {
    "python": (
        "https://docs.python.org/3.11",
        (str(here / "_inventories" / "python-3.11.inv"), None),
    ),
}
intersphinx_disabled_reftypes = ["std:doc"]

# -- Gallery ---------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["gallery"],
    "filename_pattern": r"/plot_",
    "subsection_order": [
        f"../examples/{name}"
        for name in (
            "tutorial",
            "library",
            "pitfalls",
            "pools",
            "memory",
            "inherit",
            "environment",
            "start_methods",
            "managers",
            "alternatives",
            "internals",
            "performance",
            "security",
            "distributed",
        )
    ],
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib",),
    "remove_config_comments": True,
    "capture_repr": (),
    "download_all_examples": True,
    "show_memory": False,
    # The timing tables load jQuery from a CDN: broken offline, and timings
    # belong to the performance page.
    "write_computation_times": False,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    # Backreferences: which examples use each public name of mpguide, shown by
    # the mini-galleries on the API page (reference/api.md). Generated, so kept
    # under reference/_generated, which git and Sphinx ignore.
    "doc_module": ("mpguide",),
    "backreferences_dir": "reference/_generated/backreferences",
}
# The reproduce page ends with the report's KeyError: the build fails if it
# does not, or if it fails with anything else.
mpguide_expected_errors = {"../examples/tutorial/plot_01_reproduce.py": "KeyError"}
mpguide_example_timeout = 120
# The start-method matrix: every pitfall, and every page on pools, memory,
# what workers inherit and where the program runs, run under fork, spawn and
# forkserver on every CPython found. Those interpreters have the standard
# library alone, so the NumPy pages (memory 02, inherit 04), the joblib page
# (pools 12), the coverage.py page (environment 10), the Django page
# (environment 11), the tqdm page (inherit 07) and the billiard page (pools 14)
# run on each version in the docs builds and the tests instead.
mpguide_matrix_examples = [
    "../examples/pitfalls/plot_*.py",
    "../examples/pools/plot_0*.py",
    "../examples/pools/plot_1[013]_*.py",
    "../examples/memory/plot_0[134]_*.py",
    "../examples/inherit/plot_0[1-35-689]_*.py",
    "../examples/inherit/plot_1*.py",
    "../examples/environment/plot_0[1-9]_*.py",
]
mpguide_matrix_output = "explanation/_generated/start-method-matrix.md"
mpguide_matrix_gallery = "gallery"
# The error index: every producer run under every start method, on every
# CPython found (python3.N on PATH, or MPGUIDE_PYTHONS).
mpguide_error_scripts = "reference/errors/*.py"

# -- HTML ----------------------------------------------------------------------------
html_theme = "furo"
html_title = "mpguide"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
# WCAG 2 A/AA fixes (the browser tests audit every page with axe-core).
html_css_files = ["accessibility.css"]
html_js_files = ["accessibility.js"]
copybutton_exclude = ".linenos, .gp, .go"
# The 404 page: its links are absolute. Served from the site's root here; on
# Read the Docs (READTHEDOCS is set) sphinx-notfound-page takes the prefix from
# READTHEDOCS_CANONICAL_URL (such as /en/latest/), which "/" would override.
if not os.environ.get("READTHEDOCS"):
    notfound_urls_prefix = "/"


# -- Generated files ---------------------------------------------------------------
# Written by docs/_ext/generated_files.py before the pages that include them are
# read: the command's --help texts, and the lines each recipe changes in the
# report's program, as a diff computed from the two files.
generated_command_help = {
    "reference/_generated/cli-help.txt": ["--help"],
    "reference/_generated/cli-check-help.txt": ["check", "--help"],
    "reference/_generated/cli-run-help.txt": ["run", "--help"],
    "reference/_generated/cli-lint-help.txt": ["lint", "--help"],
}
generated_diffs = {
    f"howto/_generated/{name}.diff": (
        "howto/recipes/report/keyed_by_user.py",
        f"howto/recipes/{name}.py",
    )
    for name in ("key_by_id", "key_by_value", "key_by_token")
}
