import unittest

from wordstat.counter import WordCounter, count_words, words


class WordsTest(unittest.TestCase):
    def test_words_are_lower_cased_and_filtered_by_length(self) -> None:
        self.assertEqual(words("The cat, the HAT; a bat!", min_length=3), ["the", "cat", "the", "hat", "bat"])

    def test_apostrophes_stay_inside_words(self) -> None:
        self.assertEqual(words("don't stop"), ["don't", "stop"])

    def test_count_words_across_texts(self) -> None:
        counts = count_words(["a b a", "b a"])
        self.assertEqual(counts["a"], 3)
        self.assertEqual(counts["b"], 2)


class WordCounterTest(unittest.TestCase):
    def test_most_common_breaks_ties_alphabetically(self) -> None:
        counter = WordCounter()
        counter.add("pear apple pear apple fig")
        self.assertEqual(counter.most_common(2), [("apple", 2), ("pear", 2)])
        self.assertEqual(counter.total, 5)
        self.assertEqual(counter.sources, 1)


if __name__ == "__main__":
    unittest.main()
