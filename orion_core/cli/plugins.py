"""`orion plugins`: what is installed, what works, and what `--backend` defaults to."""

from __future__ import annotations

import json

import click


def plugin_rows() -> list[dict]:
    """One dict per entry point; cheap facts only (no weights are loaded)."""
    from ..config import EmbeddingConfig
    from ..errors import OrionError, PluginError
    from ..plugins import default_backend, get_backend, load_plugins

    default = default_backend()
    rows = []
    for name, record in sorted(load_plugins().items()):
        row = {
            "name": name,
            "distribution": record.distribution,
            "version": record.version,
            "hooks": record.hooks,
            "embedding_dim": None,
            "default_model": None,
            "default": name == default,
            "status": "ok" if record.ok else record.error,
        }
        if record.ignored:
            row["ignored"] = [f"{other} also declares {name!r}; built-in names cannot be taken, so it was ignored" for other in record.ignored]
        if record.ok:
            try:
                info = get_backend(name).info()
                row["default_model"] = info.get("default_model")
                row["description"] = info.get("description")
                row["embedding_dim"] = EmbeddingConfig(backend=name, device="cpu").embedding_dim
            except PluginError as exc:  # the plugin broke its contract: not usable
                row["status"] = f"error: {exc}"
            except OrionError as exc:
                row["status"] = f"ok (dim unknown: {exc})"
            except Exception as exc:  # a plugin bug must not break the listing
                row["status"] = f"error: {type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List installed embedding backends and their status (exit 0 even if one is broken)."""
    rows = plugin_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = ("name", "distribution", "version", "dim", "default model", "status")
    table = [header] + [
        (
            r["name"] + (" *" if r["default"] else ""),
            r["distribution"] or "-",
            r["version"] or "-",
            str(r["embedding_dim"] or "-"),
            r["default_model"] or "-",
            r["status"] + "".join(f"; {note}" for note in r.get("ignored", [])),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    click.echo("\n* = default backend when --backend is not given")
