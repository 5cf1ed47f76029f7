// tools/common.h: the encodings and strict parsing every mqtool command uses.
#include <gtest/gtest.h>

#include <string>

#include "common.h"

namespace mqtool {
namespace {

std::string AllBytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

TEST(EscapePayloadTest, PrintableAsciiStaysAndEverythingElseIsEscaped) {
  EXPECT_EQ(EscapePayload("plain text ~!"), "plain text ~!");
  EXPECT_EQ(EscapePayload("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapePayload("\n\r\t"), "\\n\\r\\t");
  EXPECT_EQ(EscapePayload(std::string("\0\x7f\x80\xff", 4)), "\\x00\\x7f\\x80\\xff");
}

TEST(EscapePayloadTest, OutputNeverHoldsANewlineAndUnescapeGivesEveryByteBack) {
  std::string all = AllBytes();
  std::string escaped = EscapePayload(all);
  EXPECT_EQ(escaped.find('\n'), std::string::npos);
  EXPECT_EQ(UnescapePayload(escaped), all);
}

TEST(UnescapePayloadTest, MalformedEscapesAreUsageErrorsNamingThePosition) {
  EXPECT_EQ(UnescapePayload("a\\0b\\\""), std::string("a\0b\"", 4));
  try {
    (void)UnescapePayload("ab\\q");
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown escape \\q at byte 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)UnescapePayload("\\x4"), UsageError);
  EXPECT_THROW((void)UnescapePayload("\\xzz"), UsageError);
  EXPECT_THROW((void)UnescapePayload("trailing\\"), UsageError);
}

TEST(Base64Test, EncodesTheRfc4648TestVectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, DecodeInvertsEncodeForEveryLength) {
  std::string all = AllBytes();
  for (size_t n = 0; n <= all.size(); n += 7) {
    std::string out;
    ASSERT_TRUE(Base64Decode(Base64Encode(all.substr(0, n)), &out)) << n;
    EXPECT_EQ(out, all.substr(0, n));
  }
}

TEST(Base64Test, DecodeRejectsMalformedInput) {
  std::string out;
  EXPECT_FALSE(Base64Decode("Zg=", &out));       // length not a multiple of 4
  EXPECT_FALSE(Base64Decode("Z===", &out));      // too much padding
  EXPECT_FALSE(Base64Decode("Zg==Zg==", &out));  // padding before the end
  EXPECT_FALSE(Base64Decode("Zh==", &out));      // non-zero bits under the padding
  EXPECT_FALSE(Base64Decode("Zm9v\n", &out));
  EXPECT_FALSE(Base64Decode("Zm-v", &out));
}

TEST(JsonStringTest, QuotesAndEscapesControlCharacters) {
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString("\n\t\r\b\f"), "\"\\n\\t\\r\\b\\f\"");
  EXPECT_EQ(JsonString(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(JsonString("/tmp/caf\xc3\xa9"), "\"/tmp/caf\xc3\xa9\"");
}

TEST(ParseSeqTest, AcceptsDecimalsFromOneTo2To64Minus1) {
  EXPECT_EQ(ParseSeq("1", "--from"), 1u);
  EXPECT_EQ(ParseSeq("0042", "--from"), 42u);
  EXPECT_EQ(ParseSeq("18446744073709551615", "--from"), UINT64_MAX);
}

TEST(ParseSeqTest, RejectsAnythingElseNamingTheOption) {
  for (const char* bad : {"", "0", "-1", "+1", "12x", " 1", "1 ", "1.0", "0x1", "18446744073709551616",
                          "99999999999999999999999"}) {
    try {
      (void)ParseSeq(bad, "--until");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()), std::string("--until: '") + bad +
                                           "' is not a sequence number (expected 1 to 18446744073709551615)");
    }
  }
}

TEST(ParseUnsignedTest, EnforcesTheMaximum) {
  EXPECT_EQ(ParseUnsigned("0", "--rate", 10), 0u);
  EXPECT_EQ(ParseUnsigned("10", "--rate", 10), 10u);
  EXPECT_THROW((void)ParseUnsigned("11", "--rate", 10), UsageError);
}

}  // namespace
}  // namespace mqtool
