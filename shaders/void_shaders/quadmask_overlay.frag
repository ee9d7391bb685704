#version 330 core
// VOID Remove: quadmask overlay (panel viewer). Reference: void_client.kernels.quadmask_overlay.
//
// Tints the plate where the quadmask is remove, overlap or affected; keep pixels and alpha pass
// through unchanged. The quadmask's first channel holds code / 255 (an R8 texture, or a float
// one): sample it with GL_NEAREST so codes are never blended. Numbers tagged "spec:" are kept
// equal to shaders/void_shaders/spec.json by shaders/void_shaders/sync_constants.py.

uniform sampler2D plate;
uniform sampler2D quadmask;
uniform float opacity = 0.55;  // spec: overlay.opacity

in vec2 uv;
layout(location = 0) out vec4 frag_colour;

const vec3 COLOUR_REMOVE = vec3(0.835, 0.369, 0.0);  // spec: overlay.colours.remove
const vec3 COLOUR_OVERLAP = vec3(0.8, 0.475, 0.655);  // spec: overlay.colours.overlap
const vec3 COLOUR_AFFECTED = vec3(0.337, 0.706, 0.914);  // spec: overlay.colours.affected

void main() {
    vec4 rgba = texture(plate, uv);
    float code = floor(texture(quadmask, uv).r * 255.0 + 0.5);
    if (code <= 191.0) {  // spec: snap.affected
        vec3 tint = COLOUR_AFFECTED;
        if (code <= 95.0) tint = COLOUR_OVERLAP;  // spec: snap.overlap
        if (code <= 31.0) tint = COLOUR_REMOVE;  // spec: snap.remove
        rgba.rgb = rgba.rgb * (1.0 - opacity) + tint * opacity;
    }
    frag_colour = rgba;
}
