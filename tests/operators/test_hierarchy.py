"""Every public operator is at most two classes below ``BaseOperator`` (itself, one Braze base), and its
Braze base declares no attribute for subclasses to fill in: shared behaviour is composed, not layered."""

from __future__ import annotations

import inspect

import pytest
from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_braze import operators as ops

OPERATORS = [getattr(ops, name) for name in ops.__all__]


def chain_to_base_operator(cls: type) -> list[type]:
    """The classes from ``cls`` up to ``BaseOperator`` through the first base that is an operator
    (mixins, which are not ``BaseOperator`` subclasses, do not count)."""
    chain = [cls]
    while chain[-1] is not BaseOperator:
        parents = [base for base in chain[-1].__bases__ if issubclass(base, BaseOperator)]
        assert len(parents) == 1, f"{chain[-1].__name__} has {len(parents)} operator bases"
        chain.append(parents[0])
    return chain


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda cls: cls.__name__)
def test_at_most_two_levels_below_base_operator(operator: type) -> None:
    chain = chain_to_base_operator(operator)
    names = " -> ".join(cls.__name__ for cls in chain)
    assert len(chain) - 1 <= 2, f"{names} is {len(chain) - 1} levels below BaseOperator"


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda cls: cls.__name__)
def test_no_mixins(operator: type) -> None:
    """No class between the operator and ``BaseOperator`` mixes in a helper that expects attributes of
    its host (the former ``_ScheduleArgs``)."""
    for cls in chain_to_base_operator(operator)[:-1]:
        mixins = [base.__name__ for base in cls.__bases__ if not issubclass(base, BaseOperator)]
        assert not mixins, f"{cls.__name__} mixes in {mixins}"


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda cls: cls.__name__)
def test_the_braze_base_declares_no_stub_for_subclasses(operator: type) -> None:
    """Nothing in a Braze base is a placeholder (an empty or ``NotImplementedError`` method, or a class
    attribute) that a public operator replaces; what a subclass must provide is an abstract method."""
    chain = chain_to_base_operator(operator)
    if len(chain) < 3:
        return
    base = chain[1]
    for name, value in vars(base).items():
        if name.startswith("_") or name not in vars(operator):
            continue
        if getattr(value, "__isabstractmethod__", False):
            continue
        if name in ("template_fields", "template_fields_renderers", "template_ext", "operator_extra_links"):
            continue  # Airflow's own class attributes, set by every operator
        function = getattr(value, "func", None) or getattr(value, "fget", None) or getattr(value, "__func__", value)
        if callable(function):
            source = inspect.getsource(function)
            stub = "NotImplementedError" in source or source.rstrip().endswith(("return None", "return {}"))
            assert not stub, f"{base.__name__}.{name} is a stub that {operator.__name__} overrides"
        else:
            pytest.fail(f"{base.__name__}.{name} is a class attribute that {operator.__name__} overrides")


def test_every_public_operator_is_concrete() -> None:
    """The abstract methods of the two Braze bases are implemented by every operator."""
    assert all(not inspect.isabstract(cls) for cls in OPERATORS)
