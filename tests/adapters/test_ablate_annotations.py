"""The ablation annotation parser, feature columns, documents and the mechanical variants."""

import ast
from pathlib import Path

import pytest

from opsgraft.adapters.ablation.annotations import (
    AnnotationError,
    cli_features,
    parse_file,
    plan_study,
    read_docs,
    static_columns,
)
from opsgraft.adapters.ablation.variants import fix_widths, remove, variant_files
from opsgraft.errors import OpsgraftError
from opsgraft.evaluation.corpus import input_files, load_task

NET = '''\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 8)
        #ABLATABLE_COMPONENT
        self.drop = nn.Dropout(0.1)
        self.mid = nn.Linear(8, 8)  # ABLATABLE_COMPONENT
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        x = self.inp(x)
        #ABLATION_HINT_START act the nonlinearity
        x = torch.relu(x)
        #ABLATION_HINT_END
        x = self.mid(self.drop(x))
        return self.out(x)
'''


def test_line_markers_before_and_at_end_of_a_line_and_hint_blocks(tmp_path: Path) -> None:
    comps = parse_file(tmp_path / "net.py", NET)
    by_name = {c.name: c for c in comps}
    assert set(by_name) == {"drop", "mid", "act"}
    assert by_name["drop"].lines == (10,) and by_name["drop"].kind == "line"
    assert by_name["mid"].lines == (11,)
    assert by_name["act"].kind == "block" and by_name["act"].lines == (17,)
    assert by_name["act"].text == "act the nonlinearity"


def test_blocks_with_the_same_name_are_one_component() -> None:
    src = NET.replace("        x = self.mid(self.drop(x))\n",
                      "        #ABLATION_HINT_START act\n        x = torch.relu(x)\n        #ABLATION_HINT_END\n"
                      "        x = self.mid(self.drop(x))\n")
    act = [c for c in parse_file(Path("n.py"), src) if c.name == "act"]
    assert len(act) == 1 and act[0].lines == (17, 20)


@pytest.mark.parametrize("src, message", [
    ("x = 1\n#ABLATION_HINT_START a\ny = 2\n", "unmatched #ABLATION_HINT_START"),
    ("#ABLATION_HINT_START a\nx = 1\n#ABLATION_HINT_START b\ny = 2\n#ABLATION_HINT_END\n", "unmatched"),
    ("x = 1\n#ABLATION_HINT_END\n", "without a #ABLATION_HINT_START"),
    ("#ABLATABLE_COMPONENT\n\nx = 1\n", "blank or comment line"),
    ("#ABLATABLE_COMPONENT\n# a comment\nx = 1\n", "blank or comment line"),
    ("x = 1\n#ABLATABLE_COMPONENT\n", "blank or comment line"),
    ("#ABLATION_HINT_START a\n# only a comment\n#ABLATION_HINT_END\n", "holds no code"),
])
def test_broken_markers_are_one_line_errors(src: str, message: str) -> None:
    with pytest.raises(AnnotationError, match=message) as info:
        parse_file(Path("t.py"), src)
    assert isinstance(info.value, OpsgraftError) and "\n" not in str(info.value)


def test_several_files_and_no_annotations(tmp_path: Path) -> None:
    files = [(tmp_path / "net.py", NET), (tmp_path / "extra.py", "a = f(1)  #ABLATABLE_COMPONENT\n")]
    plan = plan_study(files)
    assert [t.name for t in plan.trials] == ["baseline", "without_drop", "without_mid", "without_act", "without_a"]
    assert plan.component("a").file == "extra.py"
    with pytest.raises(AnnotationError, match="no ablation annotations"):
        plan_study([(tmp_path / "plain.py", "x = 1\n")])


def test_feature_groups_hints_cli_and_pairs(tmp_path: Path) -> None:
    csv = tmp_path / "data.csv"
    csv.write_text("age,income,city,target\n1,2,3,4\n")
    src = 'import pandas as pd\n#ABLATION_HINT_START features: age, income\n#ABLATION_HINT_END\ndf = pd.read_csv("data.csv")\n'
    plan = plan_study([(tmp_path / "t.py", src)], pairs=True)
    assert plan.mode == "features" and plan.columns == ("age", "income", "city", "target")
    assert [t.name for t in plan.trials] == ["baseline", "without_age", "without_income", "without_age+income"]
    with pytest.raises(AnnotationError, match="'salary' is not a column of the header of data.csv"):
        plan_study([(tmp_path / "t.py", 'import pandas as pd\ndf = pd.read_csv("data.csv")\n')], features="salary")
    groups = cli_features("who=age+city,income")
    assert [(c.name, c.features) for c in groups] == [("who", ("age", "city")), ("income", ("income",))]


def test_feature_group_dict_inside_a_hint_block() -> None:
    src = ('#ABLATION_HINT_START features\nGROUPS = {"a": ["x1", "x2"], "b": ["x3"]}\n#ABLATION_HINT_END\n'
           "import pandas as pd\ndf = pd.read_csv(path)\n")
    plan = plan_study([(Path("t.py"), src)])
    assert [(c.name, c.features) for c in plan.components] == [("a", ("x1", "x2")), ("b", ("x3",))]
    assert plan.columns is None and "not known before it runs" in plan.notes[0]


def test_static_columns_of_a_bundled_sklearn_frame() -> None:
    src = "from sklearn.datasets import load_diabetes\nX, y = load_diabetes(return_X_y=True, as_frame=True)\n"
    columns, why = static_columns(Path("t.py"), src)
    assert columns is not None and "bmi" in columns and "load_diabetes" in why
    with pytest.raises(AnnotationError, match="'BMI' is not a column"):
        plan_study([(Path("t.py"), src)], features="BMI")


def test_docs_are_read_recursively_under_a_budget(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.md").write_text("alpha " * 100)
    (tmp_path / "d" / "sub" / "b.txt").write_text("beta " * 100)
    (tmp_path / "d" / "skip.py").write_text("not a doc")
    text, used = read_docs([tmp_path / "d"], budget_tokens=1000)
    assert [Path(u).name for u in used] == ["a.md", "b.txt"] and "beta" in text
    short, _ = read_docs([tmp_path / "d"], budget_tokens=50)
    assert len(short) <= 200 and "beta" not in short
    with pytest.raises(AnnotationError, match="documents must be"):
        read_docs([tmp_path / "d" / "skip.py"])


def test_mechanical_removal_keeps_the_code_runnable_in_shape() -> None:
    plan = plan_study([(Path("net.py"), NET)])
    out = variant_files({"net.py": NET}, [plan.component("mid")])["net.py"]
    assert "self.mid = nn.Identity()" in out and "nn.Linear(8, 8)" not in out
    out = variant_files({"net.py": NET}, [plan.component("act")])["net.py"]
    assert "torch.relu" not in out and "#ABLATION_HINT_START" in out
    ast.parse(out)


def test_removal_that_empties_a_body_gets_pass() -> None:
    src = "def f():\n    g()  #ABLATABLE_COMPONENT\n\n\nf()\n"
    comp = parse_file(Path("t.py"), src)[0]
    out = remove(src, [comp])
    assert "g()" not in out and "pass" in out
    ast.parse(out)


@pytest.mark.parametrize("task_id, component, before, after", [
    ("ablation-torch-annotated-mlp", "bottleneck", "self.head = nn.Linear(32, 10)", "self.head = nn.Linear(128, 10)"),
    ("ablation-torch-hint-cnn", "hidden_fc", "self.out = nn.Linear(64, 10)", "self.out = nn.Linear(16 * 4 * 4, 10)"),
])
def test_the_next_layer_gets_the_width_a_removed_layer_received(task_id: str, component: str, before: str,
                                                                 after: str) -> None:
    source = input_files(load_task(task_id))["train.py"]
    comp = plan_study([(Path("train.py"), source)]).component(component)
    variant = variant_files({"train.py": source}, [comp])["train.py"]
    fixed = fix_widths(source, variant, [comp])
    assert before in variant and after in fixed and fixed.replace(after, before) == variant


def test_width_fix_leaves_same_width_layers_alone() -> None:
    source = input_files(load_task("ablation-torch-hint-cnn"))["train.py"]
    comp = plan_study([(Path("train.py"), source)]).component("second_conv")
    variant = variant_files({"train.py": source}, [comp])["train.py"]
    assert fix_widths(source, variant, [comp]) == variant
