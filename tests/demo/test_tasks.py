import random

import pytest

from igkernels.demo import tasks


def test_checker_multiplication_right_and_wrong():
    assert tasks.check("mul", "__*_=___", "47*6=282")
    assert tasks.check("mul", "4_*_=__2", "47*6=282")
    assert tasks.check("mul", "__*_=___", "10*2=020")
    assert not tasks.check("mul", "__*_=___", "47*6=283")  # wrong product
    assert not tasks.check("mul", "5_*_=___", "47*6=282")  # breaks a given digit
    assert not tasks.check("mul", "__*_=___", "07*6=042")  # a below 10
    assert not tasks.check("mul", "__*_=___", "47*1=047")  # b below 2
    assert not tasks.check("mul", "__*_=___", "47*6=28")  # wrong length
    assert not tasks.check("mul", "__*_=___", "47+6=282")  # format broken


def test_checker_sudoku_right_and_wrong():
    good = "1234|3412|2143|4321"
    assert tasks.check("sudoku", "1___|____|____|___1", good)
    assert not tasks.check("sudoku", "2___|____|____|____", good)  # breaks a given
    assert not tasks.check("sudoku", "____|____|____|____", "1234|3412|2143|4312")  # column repeats
    assert not tasks.check("sudoku", "____|____|____|____", "1234|2143|3412|4321")  # box repeats
    assert not tasks.check("sudoku", "____|____|____|____", "1234|3412|2143|432_")  # unfilled


def test_enumerations():
    assert len(tasks.all_sudoku()) == 288
    assert len(tasks.all_mul()) == 90 * 8
    assert all(tasks.is_valid_mul(s) for s in tasks.all_mul())


@pytest.mark.parametrize("task", tasks.TASKS)
def test_split_is_disjoint_and_fixed(task):
    train, held = tasks.split(task)
    assert not set(train) & set(held)
    assert len(held) == (len(train) + len(held)) // 6
    assert tasks.split(task) == (train, held)


@pytest.mark.parametrize("task", tasks.TASKS)
def test_held_out_prompts(task):
    exs = tasks.held_out_set(task, 50, seed=3)
    assert exs == tasks.held_out_set(task, 50, seed=3)
    _, held = tasks.split(task)
    for ex in exs:
        assert ex.source in held
        assert tasks.check(task, ex.prompt, ex.source)  # the source solves its own prompt
        assert ex.prompt.count(tasks.MASK_CHAR) == sum(c.isdigit() for c in ex.source) - tasks.DEFAULT_REVEAL[task]
        assert tasks.decode(ex.prompt_ids()) == ex.prompt
        assert ex.prompt_ids().count(tasks.MASK_ID) == ex.prompt.count(tasks.MASK_CHAR)


def test_make_prompt_reveal_zero_masks_every_digit():
    assert tasks.make_prompt("47*6=282", 0, random.Random(0)) == "__*_=___"


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task"):
        tasks.check("chess", "", "")
