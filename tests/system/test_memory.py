"""The long-running commands limit glibc's malloc arenas, unless MALLOC_ARENA_MAX says
otherwise, and a C library without mallopt is left alone."""

from __future__ import annotations

from agent.system import memory


class Library:
    def __init__(self) -> None:
        self.calls = []

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append((option, value))
        return 1


def test_glibc_takes_the_limit():
    assert memory.limit_malloc_arenas(memory.ARENAS, environ={}) is True


def test_the_limit_is_asked_of_the_c_library():
    library = Library()
    assert memory.limit_malloc_arenas(2, environ={}, library=lambda: library)
    assert library.calls == [(memory.M_ARENA_MAX, 2)]


def test_a_limit_set_by_the_user_is_obeyed():
    library = Library()
    assert not memory.limit_malloc_arenas(8, environ={"MALLOC_ARENA_MAX": "4"},
                                          library=lambda: library)
    assert library.calls == [], "the C library is not asked at all"


def test_a_c_library_without_mallopt_is_left_alone():
    assert not memory.limit_malloc_arenas(2, environ={}, library=lambda: object())
