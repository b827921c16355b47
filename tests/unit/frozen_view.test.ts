import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import { compileStep } from '../../src/graph/compile.js';
import { FrozenView } from '../../src/graph/frozen_view.js';
import { createGraph } from '../../src/graph/graph.js';
import { ParameterStore } from '../../src/graph/params.js';
import { SGD } from '../../src/optim/optimizers.js';
import { useEngine } from '../helpers/engine.js';

const engine = useEngine();

function store(seed: number): ParameterStore {
  const s = new ParameterStore(engine(), { seed });
  s.add('w', [2, 3], { kind: 'normal', mean: 0, std: 1 });
  s.addBuffer('running', [3], { kind: 'constant', value: 1 });
  return s;
}

describe('FrozenView', () => {
  it('shows the inner tensors under the prefix only', () => {
    const inner = store(1);
    const view = new FrozenView(inner, 'teacher/');
    expect(view.has('teacher/w')).toBe(true);
    expect(view.has('w')).toBe(false);
    expect(view.has('teacher/missing')).toBe(false);
    expect(view.isBuffer('teacher/running')).toBe(true);
    expect(view.isBuffer('teacher/w')).toBe(false);
    const g = createGraph();
    const v = view.value(g, 'w');
    expect(v.name).toBe('teacher/w');
    expect(v.shape).toEqual([2, 3]);
    expect(view.value(g, 'w')).toBe(v);
    expect(() => view.range('w')).toThrow(/'w' is not under 'teacher\//);
    expect(() => view.gradRange('teacher/w')).toThrow(/'w' is shown frozen under 'teacher\/': it has no gradient/);
    expect(() => new FrozenView(inner, '')).toThrow(ShapeError);
    inner.dispose();
  });

  it('lets one step read two stores whose parameters share names, and trains only its own', async () => {
    const student = store(2);
    const teacher = store(3);
    const view = new FrozenView(teacher, 'teacher/');
    const teacherBefore = await teacher.read('w');
    const studentBefore = await student.read('w');
    const step = await compileStep(engine(), {
      inputs: {},
      stores: [student, view],
      build: (g) => {
        const [diff] = g.apply('sub', [student.value(g, 'w'), view.value(g, 'w')], {});
        const [sq] = g.apply('mul', [diff, diff], {});
        const [flat] = g.apply('reshape', [sq], { shape: [6] });
        const [loss] = g.apply('sum', [flat], { axis: 0 });
        return { outputs: { loss }, minimize: { loss, store: student, optimizer: new SGD({ lr: 0.25 }) } };
      },
    });
    step.run();
    // d/dw Σ(w − t)² = 2(w − t): one step of lr 0.25 moves the student halfway to the teacher.
    const after = await student.read('w');
    after.forEach((w, i) => expect(w).toBeCloseTo((studentBefore[i] + teacherBefore[i]) / 2, 5));
    expect(Array.from(await teacher.read('w'))).toEqual(Array.from(teacherBefore));
    step.dispose();
    student.dispose();
    teacher.dispose();
    expect(engine().stats.liveBuffers).toBe(0);
  });
});
