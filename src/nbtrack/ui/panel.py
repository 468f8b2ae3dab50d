"""Base of the browser's tabs: a panel renders only when it is visible and stale.

A panel's inputs change often (every click on a run or a checkbox) while most
of the time it is not on screen; drawing it only when shown keeps the browser
fast (plots cost ~100 ms each).
"""

from __future__ import annotations

import ipywidgets as widgets


class Panel(widgets.VBox):
    """A tab of the browser. Subclasses implement :meth:`render`."""

    title = "panel"

    def __init__(self, browser, **kwargs) -> None:
        super().__init__(**kwargs)
        self.browser = browser
        self.stale = True
        self.visible = False
        self.built = False

    def invalidate(self) -> None:
        """The inputs changed: redraw now if shown, else on the next :meth:`show`."""
        self.stale = True
        if self.visible:
            self.refresh()

    def show(self, visible: bool = True) -> None:
        self.visible = visible
        if visible and self.stale:
            self.refresh()

    def refresh(self) -> None:
        """Redraw from the current inputs (errors become a message, never an exception)."""
        self.stale = False
        try:
            if not self.built:  # sub-widgets are created on first use: a browser opens fast
                self.build()
                self.built = True
            self.render()
        except Exception as e:  # the widget must survive bad input or a store hiccup
            self.render_error(e)

    def build(self) -> None:
        """Create the panel's widgets (once, before the first :meth:`render`)."""

    def render(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def render_error(self, e: Exception) -> None:
        from .html import esc

        self.children = [widgets.HTML(f'<span style="color:#cf222e">{esc(type(e).__name__)}: {esc(e)}</span>')]


def hint(text: str) -> widgets.HTML:
    """A grey explanatory line."""
    from .html import esc

    return widgets.HTML(f'<span style="color:#57606a;font-size:12px">{esc(text)}</span>')


def button(description: str, callback, tooltip: str = "", width: str = "auto", **kwargs) -> widgets.Button:
    """A small button calling ``callback()`` (without the button argument)."""
    b = widgets.Button(description=description, tooltip=tooltip or description,
                       layout=widgets.Layout(width=width, height="26px"), **kwargs)
    b.on_click(lambda _b: callback())
    return b
