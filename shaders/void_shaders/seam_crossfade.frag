#version 330 core
// VOID Remove: seam crossfade (panel viewer). Reference: void_client.kernels.crossfade.
//
// out = a * (1 - w) + b * w on every channel, w = weight_b: the later window's weight, which
// follows the raised-cosine ramp of the seam (void_client.kernels.seam_ramp, windows.py).

uniform sampler2D window_a;
uniform sampler2D window_b;
uniform float weight_b;

in vec2 uv;
layout(location = 0) out vec4 frag_colour;

void main() {
    vec4 a = texture(window_a, uv);
    vec4 b = texture(window_b, uv);
    frag_colour = a * (1.0 - weight_b) + b * weight_b;
}
