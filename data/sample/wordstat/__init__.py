"""Count the words of text files and report the most common ones."""

from wordstat.counter import WordCounter, count_words

__all__ = ["WordCounter", "count_words"]
__version__ = "0.3.0"
