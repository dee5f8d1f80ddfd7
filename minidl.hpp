// minidl: everything a user needs, in one include.
#pragma once

#include "core/context.hpp"
#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/info.hpp"
#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/storage.hpp"
#include "core/tensor.hpp"
#include "kernels/activation.hpp"
#include "kernels/arith.hpp"
#include "kernels/fill.hpp"
#include "kernels/loss.hpp"
#include "kernels/reduce.hpp"
#include "kernels/softmax.hpp"
