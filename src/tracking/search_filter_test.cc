#include "gtest/gtest.h"
// Filled in by its own change.
