// A GLMM with one grouping factor and independent random effects, written as mejax.bayes
// samples it: beta ~ normal(0, prior_sd), every variance ~ inv_gamma(ig_shape, ig_scale),
// random effects non-centred (b[j, k] = sqrt(var_u[k]) * u[j, k], u ~ N(0, 1)).
// Stan 2.21 syntax (Debian's rstan). family: 1 Gaussian (identity), 2 binomial (logit, trials), 3 Poisson (log).
data {
  int<lower=1> N;
  int<lower=1> P;
  int<lower=1> K;
  int<lower=1> J;
  int<lower=1, upper=3> family;
  matrix[N, P] X;
  matrix[N, K] Z;
  int<lower=1, upper=J> g[N];
  vector[N] y_real;
  int<lower=0> y_int[N];
  int<lower=0> trials[N];
  real<lower=0> prior_sd;
  real<lower=0> ig_shape;
  real<lower=0> ig_scale;
}
parameters {
  vector[P] beta;
  vector<lower=0>[K] var_u;
  matrix[J, K] u;
  real<lower=0> sigma2[family == 1 ? 1 : 0];
}
model {
  matrix[J, K] b = u .* rep_matrix(sqrt(var_u)', J);
  vector[N] eta = X * beta + rows_dot_product(Z, b[g]);
  beta ~ normal(0, prior_sd);
  var_u ~ inv_gamma(ig_shape, ig_scale);
  to_vector(u) ~ std_normal();
  if (family == 1) {
    sigma2[1] ~ inv_gamma(ig_shape, ig_scale);
    y_real ~ normal(eta, sqrt(sigma2[1]));
  } else if (family == 2) {
    y_int ~ binomial_logit(trials, eta);
  } else {
    y_int ~ poisson_log(eta);
  }
}
