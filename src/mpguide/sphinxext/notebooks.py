"""Make the gallery's Jupyter notebooks start processes as their scripts do.

A notebook's ``__main__`` module has no file. Under the ``spawn`` and
``forkserver`` start methods a child process rebuilds the parent's main module
from its file (``multiprocessing.spawn.get_preparation_data`` sends
``init_main_from_path`` when ``__main__.__spec__`` is None and
``__main__.__file__`` is set; the child re-runs that file as ``__mp_main__``).
Without a file the child cannot find the classes and functions the notebook
defines, and fails with ``AttributeError: Can't get attribute ...``.

This extension rewrites each notebook sphinx-gallery generates, before it is
saved and zipped, so that it begins with

1. a Markdown cell saying why, and linking to the page that explains it
   (``mpguide_notebook_explanation``; a link when ``html_baseurl`` or Read the
   Docs' ``READTHEDOCS_CANONICAL_URL`` gives the site's address);
2. a code cell that writes the example's script (the same source as the page's
   ``.py`` download) next to the notebook, as ``<example>_for_new_processes.py``;
3. a code cell that makes that file the kernel's main file: ``__main__.__file__``
   points at it, ``__main__.__spec__`` is None, and ``__mp_main__`` is
   ``__main__``, so that objects a child sends back unpickle.

The examples keep their demos under ``if __name__ == "__main__":``, so a child
importing the script runs none of them, exactly as for ``python example.py``.

It wraps ``sphinx_gallery.gen_rst.save_notebook`` (sphinx-gallery 0.22), the
call that writes each notebook just before the example's archive is zipped.
The build fails when that function is missing, when a notebook is written
without its example's script next to it, and when, after the gallery is
generated, a notebook in a gallery directory lacks the cells above (for
instance one left from a build made without this extension: delete the gallery
directory and build again).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

from mpguide.sphinxext.gallery_processes import _directories

#: Metadata key marking the cells this extension adds.
MARKER = "mpguide"
#: Suffix of the script file a notebook writes next to itself.
SCRIPT_SUFFIX = "_for_new_processes.py"

SaveNotebook = Callable[[dict[str, Any], str | os.PathLike[str]], None]


class NotebookError(ExtensionError):
    """A notebook could not be made to work under every start method."""


def script_name(stem: str) -> str:
    """The file a notebook for the example ``stem`` writes its script to."""
    return stem + SCRIPT_SUFFIX


def explanation_markdown(stem: str, title: str, url: str | None) -> str:
    """The first cell: why the two cells after it exist."""
    page = f"[{title}]({url})" if url else f"*{title}* (in this guide's explanation)"
    return (
        "**Run the next two cells first.** This example starts new processes. Under "
        "the *spawn* and *forkserver* start methods (the default on macOS and "
        "Windows, and on Linux from Python 3.14) a new process does not inherit "
        "this notebook's classes and functions: it re-imports the program's main "
        "module from its file. A notebook has no file, so the process would fail "
        "with `AttributeError: Can't get attribute ... on <module '__main__'>`.\n\n"
        f"The next cell writes this example's script (the page's `{stem}.py` "
        f"download) next to this notebook as `{script_name(stem)}`; the cell after "
        "it makes that file this notebook's main file. New processes import the "
        "example's classes and functions from it; its demos run only under "
        '`if __name__ == "__main__":`, so importing it runs none of them. If you '
        "change a class or function that new processes use, change it in that "
        "file too (or move it to a module of your own), and restart the kernel.\n\n"
        f"Why: {page}."
    )


def main_file_code(stem: str) -> str:
    """The third cell: the written script becomes the kernel's main file."""
    return (
        "# New processes (spawn, forkserver) re-import the main module from its\n"
        "# file: point this notebook's __main__ at the script written above.\n"
        "import sys\n"
        "from pathlib import Path\n"
        "\n"
        'notebook_main = sys.modules["__main__"]\n'
        f'notebook_main.__file__ = str(Path("{script_name(stem)}").resolve())\n'
        "notebook_main.__spec__ = None  # else a child imports __main__ by module name\n"
        'sys.modules["__mp_main__"] = notebook_main  # what children send back unpickles\n'
    )


def code_cell(source: str, **metadata: Any) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {MARKER: True, **metadata},
        "outputs": [],
        "source": source,
    }


def bootstrap_cells(stem: str, script: str, title: str, url: str | None) -> list[Any]:
    """The three cells that begin every gallery notebook."""
    return [
        {
            "cell_type": "markdown",
            "metadata": {MARKER: True},
            "source": explanation_markdown(stem, title, url),
        },
        code_cell(
            f"%%writefile {script_name(stem)}\n{script}",
            jupyter={"source_hidden": True},
        ),
        code_cell(main_file_code(stem)),
    ]


def has_bootstrap(notebook: dict[str, Any], stem: str) -> bool:
    """Whether ``notebook`` begins with this extension's cells for ``stem``."""
    cells = notebook.get("cells", [])
    return (
        len(cells) >= 3
        and all(cell.get("metadata", {}).get(MARKER) for cell in cells[:3])
        and "".join(cells[1]["source"]).startswith(f"%%writefile {script_name(stem)}\n")
    )


class NotebookRewriter:
    """Wraps sphinx-gallery's ``save_notebook`` to add the cells to each notebook."""

    def __init__(self) -> None:
        self.title = ""
        self.url: str | None = None
        self._original: SaveNotebook | None = None

    def install(self) -> None:
        try:
            from sphinx_gallery import gen_rst
        except ImportError as error:
            message = f"mpguide.sphinxext.notebooks needs sphinx-gallery: {error}"
            raise NotebookError(message) from None
        original = getattr(gen_rst, "save_notebook", None)
        if not callable(original):
            raise NotebookError(
                "mpguide.sphinxext.notebooks: sphinx_gallery.gen_rst.save_notebook is "
                "missing; this sphinx-gallery version saves notebooks elsewhere, so "
                "they cannot be made to work under spawn and forkserver"
            )
        if self._original is not None:
            return
        self._original = original

        def save_notebook(
            notebook: dict[str, Any], write_file: str | os.PathLike[str]
        ) -> None:
            self.rewrite(notebook, Path(write_file))
            original(notebook, write_file)

        gen_rst.save_notebook = save_notebook

    def uninstall(self) -> None:
        if self._original is not None:
            from sphinx_gallery import gen_rst

            gen_rst.save_notebook = self._original
            self._original = None

    def rewrite(self, notebook: dict[str, Any], write_file: Path) -> None:
        """Insert the cells; the script is the ``.py`` sphinx-gallery saved beside it."""
        name = write_file.name.removesuffix(".new").removesuffix(".ipynb")
        script_path = write_file.with_name(name + ".py")
        if not script_path.is_file():
            raise NotebookError(
                f"mpguide.sphinxext.notebooks: sphinx-gallery wrote {write_file.name} "
                f"without {script_path.name} next to it; the notebook cannot write "
                "its example's script"
            )
        if has_bootstrap(notebook, name):
            return
        script = script_path.read_text(encoding="utf-8")
        notebook["cells"][:0] = bootstrap_cells(name, script, self.title, self.url)


#: The extension's state in this build process.
REWRITER = NotebookRewriter()


def explanation_url(config: Config, docname: str) -> str | None:
    """The explanation page's address on the published site, when known."""
    base = config.html_baseurl or os.environ.get("READTHEDOCS_CANONICAL_URL", "")
    if not base:
        return None
    return base.rstrip("/") + "/" + docname + ".html"


def page_title(srcdir: Path, docname: str) -> str:
    for suffix in (".md", ".rst"):
        path = srcdir / (docname + suffix)
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            if suffix == ".rst":
                return path.read_text(encoding="utf-8").splitlines()[0].strip()
    raise NotebookError(
        f"mpguide_notebook_explanation names {docname!r}, but the site has no such "
        "page; the notebooks' first cell links to it"
    )


def _configure(app: Sphinx, config: Config) -> None:
    docname = config.mpguide_notebook_explanation
    REWRITER.title = page_title(Path(app.srcdir), docname)
    REWRITER.url = explanation_url(config, docname)
    REWRITER.install()


def check_notebooks(app: Sphinx, *args: Any) -> None:
    """Fail the build if a gallery notebook lacks the cells (the hook was bypassed)."""
    gallery_conf = app.config.sphinx_gallery_conf
    missing = []
    for gallery_dir in _directories(gallery_conf, "gallery_dirs"):
        for path in sorted(Path(app.srcdir, gallery_dir).rglob("*.ipynb")):
            notebook = json.loads(path.read_text(encoding="utf-8"))
            if not has_bootstrap(notebook, path.stem):
                missing.append(str(path.relative_to(app.srcdir)))
    if missing:
        raise NotebookError(
            "these notebooks do not write their example's script, so they fail "
            "under spawn and forkserver: "
            + ", ".join(missing)
            + " (left from a build without mpguide.sphinxext.notebooks? delete the "
            "gallery directories and build again)"
        )


def _uninstall(app: Sphinx, exception: BaseException | None) -> None:
    REWRITER.uninstall()


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the extension; sphinx-gallery must be loaded first."""
    if "sphinx_gallery.gen_gallery" not in app.extensions:
        raise ExtensionError(
            "mpguide.sphinxext.notebooks needs sphinx_gallery.gen_gallery, "
            "listed before it in extensions"
        )
    app.add_config_value(
        "mpguide_notebook_explanation", "explanation/main-module", "env", types=(str,)
    )
    app.connect("config-inited", _configure)
    app.connect("env-before-read-docs", check_notebooks)
    app.connect("build-finished", _uninstall)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
