// ParsePattern, the shell form of a selective-receive pattern (`mqtool recv
// --match`): what it accepts, what it refuses and how it says so.
#include <gtest/gtest.h>

#include <random>

#include "mq/pattern.h"

namespace mq {
namespace {

TEST(PatternTest, AnyKeyAndPrefixParse) {
  auto any = ParsePattern("any");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->kind(), Pattern::Kind::kAny);
  auto key = ParsePattern("key:order-17");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->kind(), Pattern::Kind::kKey);
  EXPECT_EQ(key->text(), "order-17");
  auto prefix = ParsePattern("prefix:a");
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(prefix->kind(), Pattern::Kind::kPrefix);
  EXPECT_EQ(prefix->text(), "a");
}

TEST(PatternTest, EmptyKeyAndEmptyPrefixAreAllowed) {
  auto key = ParsePattern("key:");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->text(), "");
  auto prefix = ParsePattern("prefix:");
  ASSERT_TRUE(prefix.ok());
  EXPECT_TRUE(prefix->Matches("anything"));
}

TEST(PatternTest, EscapesAreDecodedAndColonsAfterTheKindAreText) {
  auto p = ParsePattern("prefix:a\\tb\\n\\0\\\\\\x41:c");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->text(), std::string("a\tb\n\0\\A:c", 9));
}

TEST(PatternTest, PrefixMatchesOnlyPayloadsThatStartWithIt) {
  Pattern p = Pattern::Prefix("ab");
  EXPECT_TRUE(p.Matches("ab"));
  EXPECT_TRUE(p.Matches("abc"));
  EXPECT_FALSE(p.Matches("a"));
  EXPECT_FALSE(p.Matches("xab"));
}

TEST(PatternTest, PredicateMatchesWhatTheCallableAccepts) {
  Pattern p = Pattern::Predicate([](std::string_view s) { return s.size() == 3; });
  EXPECT_TRUE(p.Matches("abc"));
  EXPECT_FALSE(p.Matches("ab"));
  EXPECT_EQ(p.ToString(), "predicate");
}

struct Bad {
  const char* expr;
  const char* where;  // expected in the message
};

TEST(PatternTest, MalformedExpressionsNameTheByteAndTheReason) {
  for (const Bad& b : {Bad{"", "at byte 0: no kind"}, Bad{"anything", "at byte 0: no kind"},
                       Bad{"regex:a.*", "at byte 0: unknown kind 'regex'"}, Bad{"key:a\\", "at byte 5: a lone backslash"},
                       Bad{"prefix:\\q", "at byte 7: unknown escape \\q"},
                       Bad{"prefix:\\x4", "at byte 7: \\x must be followed by two hex digits"},
                       Bad{"key:ab\\xZZ", "at byte 6: \\x must"}, Bad{"ANY", "no kind"}}) {
    auto p = ParsePattern(b.expr);
    ASSERT_FALSE(p.ok()) << b.expr;
    EXPECT_EQ(p.status().code(), Status::Code::kInvalidArgument) << b.expr;
    EXPECT_NE(p.status().message().find(b.where), std::string::npos) << p.status().message();
    EXPECT_NE(p.status().message().find("any, key:K or prefix:P"), std::string::npos) << p.status().message();
  }
}

TEST(PatternTest, ErrorMessagesShowControlBytesEscapedAndLongInputCut) {
  auto p = ParsePattern(std::string("bad\n\x01") + std::string(500, 'z'));
  ASSERT_FALSE(p.ok());
  const std::string& m = p.status().message();
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_NE(m.find("\\n\\x01"), std::string::npos) << m;
  EXPECT_LT(m.size(), 300u) << m;
}

TEST(PatternTest, ToStringParsesBackToTheSamePattern) {
  for (const Pattern& p : {Pattern::Any(), Pattern::Key(std::string("k\0\xff\\:\n", 6)), Pattern::Prefix("p q"),
                           Pattern::Prefix(""), Pattern::Key("")}) {
    auto back = ParsePattern(p.ToString());
    ASSERT_TRUE(back.ok()) << p.ToString() << ": " << back.status().ToString();
    EXPECT_EQ(back->kind(), p.kind());
    EXPECT_EQ(back->text(), p.text());
  }
}

TEST(PatternTest, RandomInputEitherParsesAndRoundTripsOrIsAnInvalidArgument) {
  std::mt19937 rng(12345);
  const std::string alphabet = std::string("anykeyprfix:\\x0tn19AFz", 22) + std::string(1, '\0') + "\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    if (i % 3 == 0) s = "key:";
    if (i % 3 == 1) s = "prefix:";
    const int len = std::uniform_int_distribution<int>(0, 12)(rng);
    for (int k = 0; k < len; ++k) s += alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
    auto p = ParsePattern(s);
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), Status::Code::kInvalidArgument);
      continue;
    }
    auto back = ParsePattern(p->ToString());
    ASSERT_TRUE(back.ok()) << p->ToString();
    EXPECT_EQ(back->kind(), p->kind());
    EXPECT_EQ(back->text(), p->text());
  }
}

}  // namespace
}  // namespace mq
