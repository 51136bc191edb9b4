# Prints a graph with two dense ops on 4096 inputs and 100 units, one with
# softmax and one with relu (constants of zeros), for the schedule tests.
K, U = 4096, 100
print("graph @s {")
print(f"  %x = input : f32[N, {K}]")
print(f"  %w = const [{', '.join(['0'] * (K * U))}] : f32[{U}, {K}]")
print(f"  %b = const [{', '.join(['0'] * U)}] : f32[{U}]")
print(f"  %p = dense(%x, %w, %b) {{fn = softmax}} : f32[N, {U}]")
print(f"  %q = dense(%x, %w, %b) {{fn = relu}} : f32[N, {U}]")
print("  output %p")
print("  output %q")
print("}")
