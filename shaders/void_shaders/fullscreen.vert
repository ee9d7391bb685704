#version 330 core
// VOID Remove: the vertex shader shared by every fragment shader in this folder.
//
// One triangle that covers the viewport, made from gl_VertexID: bind no vertex buffer and
// draw 3 vertices (glDrawArrays(GL_TRIANGLES, 0, 3)). uv (0, 0) is the first texel uploaded
// (GL's bottom-left). uv_scale / uv_offset let the viewer zoom, pan, or show images whose
// first row is the top: uv_scale = (1, -1), uv_offset = (0, 1).

uniform vec2 uv_scale = vec2(1.0, 1.0);
uniform vec2 uv_offset = vec2(0.0, 0.0);

out vec2 uv;

void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));  // (0,0) (2,0) (0,2)
    uv = corner * uv_scale + uv_offset;
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
