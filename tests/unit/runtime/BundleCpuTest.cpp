// A bundle names the architecture, CPU and instruction-set features its
// code needs; soma_bundle_load refuses a CPU that lacks any of them before
// any of the bundle's code runs (runtime/bundle/BundleLoader.cpp). The
// descriptors here are forged: what they need is chosen so that no CPU, or
// not this one, has it, whatever machine runs the test.
#include "soma/runtime/BundleFormat.h"
#include "soma/runtime/CpuFeatures.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

using namespace soma;

namespace {

/// A descriptor with no plan: loading it fails at the plan (FORMAT) once
/// the CPU checks pass.
soma_bundle_descriptor forged(const char *arch, const char *cpu, const char *features) {
  soma_bundle_descriptor d{};
  d.magic = runtime::kBundleMagic;
  d.version = runtime::kBundleVersion;
  d.name = "forged";
  d.arch = arch;
  d.cpu = cpu;
  d.features = features;
  return d;
}

int load(const soma_bundle_descriptor &d) {
  soma_bundle *loaded = nullptr;
  const int code = soma_bundle_load(&d, nullptr, &loaded);
  EXPECT_EQ(loaded, nullptr);
  soma_bundle_free(loaded);
  return code;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

TEST(BundleCpu, AFeatureNoCpuHasIsRefusedByName) {
  const soma_bundle_descriptor d = forged(runtime::hostArch(), "futurecpu", "sse2,nosuchfeature");
  EXPECT_EQ(load(d), SOMA_BUNDLE_ERROR_CPU);
  const std::string why = soma_bundle_last_error();
  EXPECT_TRUE(contains(why, "bundle 'forged' was compiled for CPU 'futurecpu'")) << why;
  EXPECT_TRUE(contains(why, "lacks nosuchfeature:")) << why; // sse2 is there: not named
  EXPECT_TRUE(contains(why, runtime::hostCpuName())) << why;
}

TEST(BundleCpu, EveryMissingFeatureIsNamed) {
  // The AVX-512 bundle on a machine with AVX2 only is the case that matters;
  // here, whatever this machine has, the features it lacks are named, in order.
  const std::string wanted = "sse2,avx2,fma,avx512f,avx512bw,amx-tile,xop,fma4,nosuchfeature";
  std::vector<std::string> missing = runtime::missingHostFeatures(wanted);
  ASSERT_FALSE(missing.empty());
  EXPECT_EQ(missing.back(), "nosuchfeature"); // in the bundle's order; the message sorts them
  std::sort(missing.begin(), missing.end());
  std::string names;
  for (const std::string &m : missing)
    names += (names.empty() ? "" : ", ") + m;
  const soma_bundle_descriptor d = forged(runtime::hostArch(), "znver4", wanted.c_str());
  EXPECT_EQ(load(d), SOMA_BUNDLE_ERROR_CPU);
  EXPECT_TRUE(contains(soma_bundle_last_error(), "lacks " + names + ":"))
      << soma_bundle_last_error();
  EXPECT_EQ(std::count(missing.begin(), missing.end(), "sse2"), 0) << "every x86-64 CPU has SSE2";
}

TEST(BundleCpu, AnotherArchitectureIsRefused) {
  const char *other = std::string(runtime::hostArch()) == "x86_64" ? "aarch64" : "x86_64";
  const soma_bundle_descriptor d = forged(other, "generic", "");
  EXPECT_EQ(load(d), SOMA_BUNDLE_ERROR_CPU);
  EXPECT_TRUE(contains(soma_bundle_last_error(), std::string("(") + other + "), which this " +
                                                     runtime::hostArch() + " machine cannot run"))
      << soma_bundle_last_error();
}

TEST(BundleCpu, WhatThisCpuHasPassesToThePlan) {
  // Every checkable feature this CPU has: the check passes, and the load
  // goes on to the (missing) plan.
  std::string have;
  for (std::string_view f : runtime::checkableFeatures(runtime::hostArch()))
    if (runtime::hostHasFeature(f))
      have += (have.empty() ? "" : ",") + std::string(f);
  EXPECT_FALSE(have.empty());
  EXPECT_TRUE(runtime::missingHostFeatures(have).empty());
  const soma_bundle_descriptor d = forged(runtime::hostArch(), "native", have.c_str());
  EXPECT_EQ(load(d), SOMA_BUNDLE_ERROR_FORMAT) << soma_bundle_last_error();
}

TEST(BundleCpu, AnOlderFormatIsRefusedBeforeItsFieldsAreRead) {
  // Version 2 had no arch, cpu or features: nothing past `version` is read.
  soma_bundle_descriptor d = forged(nullptr, nullptr, nullptr);
  d.version = 2;
  EXPECT_EQ(load(d), SOMA_BUNDLE_ERROR_FORMAT);
  EXPECT_TRUE(contains(soma_bundle_last_error(), "bundle format 2 is not this runtime's (" +
                                                     std::to_string(runtime::kBundleVersion) +
                                                     "): recompile the network with this soma"))
      << soma_bundle_last_error();
}

TEST(BundleCpu, FeatureListsParse) {
  EXPECT_TRUE(runtime::missingHostFeatures("").empty());
  EXPECT_TRUE(runtime::missingHostFeatures(",,").empty());
  EXPECT_EQ(runtime::missingHostFeatures("nosuch,,other"),
            (std::vector<std::string>{"nosuch", "other"}));
  EXPECT_FALSE(runtime::hostHasFeature("nosuchfeature"));
  EXPECT_TRUE(runtime::checkableFeatures("sparc").empty());
  const auto &arm = runtime::checkableFeatures("aarch64");
  EXPECT_NE(std::find(arm.begin(), arm.end(), "sve"), arm.end());
}

} // namespace
