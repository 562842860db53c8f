"""The public surface: everything in ``seismo.__all__`` exists and is documented."""

from __future__ import annotations

import seismo


def test_all_names_exist_and_have_docstrings() -> None:
    for name in seismo.__all__:
        obj = getattr(seismo, name)
        if callable(obj) and not isinstance(obj, seismo.Mapping):
            assert (obj.__doc__ or "").strip(), f"seismo.{name} has no docstring"


def test_every_public_class_and_function_is_in_all() -> None:
    import types

    for name in seismo.__all__:  # some names are imported on first use
        getattr(seismo, name)
    public = {
        n
        for n, v in vars(seismo).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType) and n != "annotations"
    }
    assert public == set(seismo.__all__)
