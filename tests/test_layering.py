"""The package's dependency direction: models <- pipelines <- evaluation, cli; nothing imports cli."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "blip_diffusion"
FORBIDDEN = {
    "models": ("pipelines", "cli", "evaluation", "toyworld", "training", "app"),
    "pipelines": ("cli", "evaluation", "toyworld", "training", "app"),
    "utils": ("models", "pipelines", "cli", "evaluation", "toyworld", "training", "app"),
    "evaluation": ("cli", "app"),
    "toyworld": ("cli", "app", "training"),
    "training": ("cli", "app", "evaluation"),
    "app": ("cli",),
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {n.split(".")[1] for n in names if n.startswith("blip_diffusion.") and n.count(".") >= 1}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_lower_layers(layer):
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(_imports(path) & set(FORBIDDEN[layer]))
        for path in (PACKAGE / layer).rglob("*.py")
        if _imports(path) & set(FORBIDDEN[layer])
    }
    assert not offenders


def test_no_private_upstream_imports():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("transformers", "diffusers"):
                assert "deprecated" not in node.module, f"{path} imports diffusers' deprecated modules"
                assert not any(a.name.startswith("_") for a in node.names), f"{path} imports a private name"
