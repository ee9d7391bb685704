#version 330 core
// VOID Remove: composite-matte feather (panel viewer). Reference: void_client.kernels.feather_curve.
//
// Reads the distance in pixels outside the hole (0 inside; an R32F texture, e.g. from
// cv2.distanceTransform) and writes the composite matte to every channel:
// t = clamp(1 - d / feather, 0, 1), matte = t * t * (3 - 2 * t); exactly 0 from d >= feather.

uniform sampler2D distance_px;
uniform float feather = 6.0;  // spec: feather.default_px

in vec2 uv;
layout(location = 0) out vec4 frag_colour;

void main() {
    float d = texture(distance_px, uv).r;
    float matte;
    if (feather <= 0.0) {
        matte = d <= 0.0 ? 1.0 : 0.0;
    } else {
        float t = clamp(1.0 - d / feather, 0.0, 1.0);
        matte = t * t * (3.0 - 2.0 * t);
    }
    frag_colour = vec4(matte);
}
